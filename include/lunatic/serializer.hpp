// The serializer concept, the byte Writer/Reader every serializer works on,
// and LUNATIC_FIELDS: one declaration of a struct's fields for every serializer.
//
// A serializer is a type S with two static function templates:
//
//     template <class T> static void encode(lunatic::Writer &out, const T &value);
//     template <class T> static void decode(lunatic::Reader &in, T &value);
//
// encode appends the bytes of value; decode reads exactly one value and
// throws lunatic::DeserializationError when the bytes are not a T (truncated,
// a length beyond the payload, invalid UTF-8, a bad variant index, ...). It
// must never crash or allocate more than the payload can justify. After a
// top-level decode the runtime checks that every byte was used (trailing
// bytes are an error). Types that cross a mailbox must be default
// constructible. lunatic::Bincode (the default), lunatic::MessagePack and
// lunatic::Json are the serializers that ship; tests/cpp/test_serializer_concept.cpp
// shows a user-written one.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <tuple>
#include <type_traits>

#include "lunatic/error.hpp"
#include "lunatic/lunatic.h"

namespace lunatic {

/// Appends bytes to a message being built (the buffer that is then sent).
class Writer {
public:
    explicit Writer(lunatic_message *message) noexcept : message_(message) {}

    /// Room for n more bytes, to be filled in at once by the caller.
    uint8_t *extend(std::size_t n) {
        uint8_t *at = nullptr;
        detail_check(lunatic_message_extend(message_, n, &at));
        return at;
    }
    void write(const void *data, std::size_t n) {
        if (n == 0) return;
        std::memcpy(extend(n), data, n);
    }
    void put(uint8_t byte) { *extend(1) = byte; }
    std::size_t size() const noexcept { return lunatic_message_size(message_); }

private:
    static void detail_check(int code) {
        if (code != LUNATIC_OK) detail::throw_status(code);
    }
    lunatic_message *message_;
};

/// Reads bytes of a received payload, bounds-checked.
class Reader {
public:
    Reader(const uint8_t *data, std::size_t size) noexcept : data_(data), size_(size) {}

    std::size_t remaining() const noexcept { return size_ - pos_; }
    bool at_end() const noexcept { return pos_ == size_; }
    std::size_t position() const noexcept { return pos_; }

    /// The next n bytes (consumed), or DeserializationError if there are fewer.
    const uint8_t *take(std::size_t n) {
        if (n > remaining())
            throw DeserializationError("payload truncated: wanted " + std::to_string(n) +
                                       " bytes, " + std::to_string(remaining()) + " left");
        const uint8_t *at = data_ + pos_;
        pos_ += n;
        return at;
    }
    void read(void *out, std::size_t n) {
        if (n) std::memcpy(out, take(n), n);
    }
    uint8_t get() { return *take(1); }
    /// The rest of the payload, consumed.
    const uint8_t *take_rest(std::size_t *n) noexcept {
        *n = remaining();
        const uint8_t *at = data_ + pos_;
        pos_ = size_;
        return at;
    }

private:
    const uint8_t *data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

/// S can encode and decode T.
template <class S, class T>
concept SerializerFor = requires(Writer &w, Reader &r, const T &in, T &out) {
    S::encode(w, in);
    S::decode(r, out);
};

// ------------------------------------------------------------ struct fields

/// T's fields were declared with LUNATIC_FIELDS: lunatic_fields(t) gives a
/// tuple of references to them, lunatic_field_names(&t) their names.
template <class T>
concept Reflected = requires(T &t, const T &ct) {
    lunatic_fields(t);
    lunatic_fields(ct);
    lunatic_field_names(static_cast<const T *>(nullptr));
};

}  // namespace lunatic

#define LUNATIC_PP_CAT_(a, b) a##b
#define LUNATIC_PP_CAT(a, b) LUNATIC_PP_CAT_(a, b)
#define LUNATIC_PP_NARGS_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                          _17, _18, _19, _20, _21, _22, _23, _24, N, ...)                        \
    N
#define LUNATIC_PP_NARGS(...)                                                                     \
    LUNATIC_PP_NARGS_(__VA_ARGS__, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, \
                      8, 7, 6, 5, 4, 3, 2, 1)
#define LUNATIC_PP_FE_1(M, a) M(a)
#define LUNATIC_PP_FE_2(M, a, ...) M(a), LUNATIC_PP_FE_1(M, __VA_ARGS__)
#define LUNATIC_PP_FE_3(M, a, ...) M(a), LUNATIC_PP_FE_2(M, __VA_ARGS__)
#define LUNATIC_PP_FE_4(M, a, ...) M(a), LUNATIC_PP_FE_3(M, __VA_ARGS__)
#define LUNATIC_PP_FE_5(M, a, ...) M(a), LUNATIC_PP_FE_4(M, __VA_ARGS__)
#define LUNATIC_PP_FE_6(M, a, ...) M(a), LUNATIC_PP_FE_5(M, __VA_ARGS__)
#define LUNATIC_PP_FE_7(M, a, ...) M(a), LUNATIC_PP_FE_6(M, __VA_ARGS__)
#define LUNATIC_PP_FE_8(M, a, ...) M(a), LUNATIC_PP_FE_7(M, __VA_ARGS__)
#define LUNATIC_PP_FE_9(M, a, ...) M(a), LUNATIC_PP_FE_8(M, __VA_ARGS__)
#define LUNATIC_PP_FE_10(M, a, ...) M(a), LUNATIC_PP_FE_9(M, __VA_ARGS__)
#define LUNATIC_PP_FE_11(M, a, ...) M(a), LUNATIC_PP_FE_10(M, __VA_ARGS__)
#define LUNATIC_PP_FE_12(M, a, ...) M(a), LUNATIC_PP_FE_11(M, __VA_ARGS__)
#define LUNATIC_PP_FE_13(M, a, ...) M(a), LUNATIC_PP_FE_12(M, __VA_ARGS__)
#define LUNATIC_PP_FE_14(M, a, ...) M(a), LUNATIC_PP_FE_13(M, __VA_ARGS__)
#define LUNATIC_PP_FE_15(M, a, ...) M(a), LUNATIC_PP_FE_14(M, __VA_ARGS__)
#define LUNATIC_PP_FE_16(M, a, ...) M(a), LUNATIC_PP_FE_15(M, __VA_ARGS__)
#define LUNATIC_PP_FE_17(M, a, ...) M(a), LUNATIC_PP_FE_16(M, __VA_ARGS__)
#define LUNATIC_PP_FE_18(M, a, ...) M(a), LUNATIC_PP_FE_17(M, __VA_ARGS__)
#define LUNATIC_PP_FE_19(M, a, ...) M(a), LUNATIC_PP_FE_18(M, __VA_ARGS__)
#define LUNATIC_PP_FE_20(M, a, ...) M(a), LUNATIC_PP_FE_19(M, __VA_ARGS__)
#define LUNATIC_PP_FE_21(M, a, ...) M(a), LUNATIC_PP_FE_20(M, __VA_ARGS__)
#define LUNATIC_PP_FE_22(M, a, ...) M(a), LUNATIC_PP_FE_21(M, __VA_ARGS__)
#define LUNATIC_PP_FE_23(M, a, ...) M(a), LUNATIC_PP_FE_22(M, __VA_ARGS__)
#define LUNATIC_PP_FE_24(M, a, ...) M(a), LUNATIC_PP_FE_23(M, __VA_ARGS__)
#define LUNATIC_PP_FOR_EACH(M, ...) \
    LUNATIC_PP_CAT(LUNATIC_PP_FE_, LUNATIC_PP_NARGS(__VA_ARGS__))(M, __VA_ARGS__)
#define LUNATIC_PP_FIELD_REF(f) lunatic_value_.f
#define LUNATIC_PP_FIELD_NAME(f) #f

#define LUNATIC_PP_FIELDS_(prefix, Type, ...)                                    \
    prefix inline auto lunatic_fields(Type &lunatic_value_) {                    \
        return std::tie(LUNATIC_PP_FOR_EACH(LUNATIC_PP_FIELD_REF, __VA_ARGS__)); \
    }                                                                            \
    prefix inline auto lunatic_fields(const Type &lunatic_value_) {              \
        return std::tie(LUNATIC_PP_FOR_EACH(LUNATIC_PP_FIELD_REF, __VA_ARGS__)); \
    }                                                                            \
    prefix inline constexpr auto lunatic_field_names(const Type *) {             \
        return std::array<const char *, LUNATIC_PP_NARGS(__VA_ARGS__)>{          \
            LUNATIC_PP_FOR_EACH(LUNATIC_PP_FIELD_NAME, __VA_ARGS__)};            \
    }

/// Declares the fields of a struct, in order, for every serializer (Bincode
/// writes them in order, MessagePack as an array, Json as an object keyed by
/// name). Write it at namespace scope, in the struct's namespace:
///
///     struct Point { int x; int y; };
///     LUNATIC_FIELDS(Point, x, y)
#define LUNATIC_FIELDS(Type, ...) LUNATIC_PP_FIELDS_(, Type, __VA_ARGS__)

/// A struct without fields (a request like `struct Get {};`): an empty
/// struct in every serializer (Bincode: no bytes).
#define LUNATIC_NO_FIELDS(Type)                                         \
    inline auto lunatic_fields(Type &) { return std::tuple<>(); }       \
    inline auto lunatic_fields(const Type &) { return std::tuple<>(); } \
    inline constexpr auto lunatic_field_names(const Type *) {           \
        return std::array<const char *, 0>{};                           \
    }

/// The same, inside the class (works for private fields): LUNATIC_FRIEND_FIELDS(Point, x, y)
#define LUNATIC_FRIEND_FIELDS(Type, ...) LUNATIC_PP_FIELDS_(friend, Type, __VA_ARGS__)
