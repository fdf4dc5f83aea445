// lunatic::Bincode, the default serializer: byte-compatible with Rust's
// bincode 1.x as `bincode::serialize` / `bincode::deserialize` write and read
// it (fixed-width little-endian integers, u64 lengths, u32 variant indices).
// docs/wire-format.md describes every type; in short:
//
//   bool            1 byte, 0 or 1 (anything else is rejected)
//   integers        fixed width, little-endian, by size (int8_t..uint64_t,
//                   char, short, long, ...: 1, 2, 4 or 8 bytes)
//   float/double    IEEE 754 binary32/binary64, little-endian
//   char32_t        UTF-8, 1-4 bytes (Rust char)
//   std::byte       1 byte
//   enum            u32 of its value (Rust unit-only enum: the variant index)
//   std::string     u64 length + UTF-8 bytes
//   vector/set      u64 count + the elements
//   map             u64 count + key, value, key, value, ...
//   array/pair/tuple/struct   the elements/fields in order, no prefix
//   optional        0 (None) or 1 followed by the value (Some)
//   variant         u32 alternative index + the value
//   std::monostate  nothing
//
// Decoding never trusts a length: a count that the rest of the payload cannot
// hold is an error before anything is allocated, and values nest at most 128
// levels. Bincode::decode reads exactly one value and leaves any following
// bytes to the caller (the runtime rejects trailing bytes).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "lunatic/detail/serde.hpp"
#include "lunatic/error.hpp"
#include "lunatic/serializer.hpp"

namespace lunatic {
namespace detail::bincode {

/// A sequence whose elements can encode in zero bytes (e.g. of std::monostate)
/// cannot be bounded by the payload: it may claim at most this many bytes of
/// C++ element storage instead.
inline constexpr std::size_t zero_size_budget = std::size_t{1} << 24;

template <std::size_t N>
struct uint_of_size;
template <>
struct uint_of_size<1> {
    using type = uint8_t;
};
template <>
struct uint_of_size<2> {
    using type = uint16_t;
};
template <>
struct uint_of_size<4> {
    using type = uint32_t;
};
template <>
struct uint_of_size<8> {
    using type = uint64_t;
};
template <class T>
using uint_for = typename uint_of_size<sizeof(T)>::type;

template <class U>
inline uint8_t *store_le(uint8_t *p, U v) noexcept {
    static_assert(std::is_unsigned_v<U>);
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(p, &v, sizeof v);
    } else {
        for (std::size_t i = 0; i < sizeof v; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
    }
    return p + sizeof v;
}

template <class U>
inline U load_le(const uint8_t *p) noexcept {
    static_assert(std::is_unsigned_v<U>);
    U v;
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(&v, p, sizeof v);
    } else {
        v = 0;
        for (std::size_t i = 0; i < sizeof v; ++i) v = static_cast<U>(v | (U(p[i]) << (8 * i)));
    }
    return v;
}

// ------------------------------------------------------------ static shape

/// Types whose every value encodes to the same number of bytes: their size
/// and how many levels they nest.
struct Shape {
    bool fixed;
    std::size_t size;
    int depth;
};

template <class T>
constexpr Shape shape();

template <class... T>
constexpr Shape composite_shape() {
    Shape parts[] = {shape<T>()..., Shape{true, 0, 0}};
    Shape out{true, 0, 0};
    for (const Shape &s : parts) {
        out.fixed = out.fixed && s.fixed;
        out.size += s.size;
        out.depth = std::max(out.depth, s.depth);
    }
    out.depth += 1;
    if (!out.fixed) out.size = 0;
    return out;
}

template <class T, std::size_t... I>
constexpr Shape struct_shape(std::index_sequence<I...>) {
    return composite_shape<field_type<I, T>...>();
}

template <class T, std::size_t... I>
constexpr Shape tuple_shape(std::index_sequence<I...>) {
    return composite_shape<std::remove_cv_t<std::tuple_element_t<I, T>>...>();
}

template <class T>
constexpr Shape shape() {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    if constexpr (k == Kind::Bool || k == Kind::Byte || k == Kind::Int || k == Kind::Float)
        return {true, sizeof(U), 0};
    else if constexpr (k == Kind::Unit)
        return {true, 0, 0};
    else if constexpr (k == Kind::Struct)
        return struct_shape<U>(std::make_index_sequence<field_count<U>>{});
    else if constexpr (k == Kind::Tuple)
        return tuple_shape<U>(std::make_index_sequence<std::tuple_size_v<U>>{});
    else if constexpr (k == Kind::Array) {
        constexpr Shape e = shape<typename U::value_type>();
        return {e.fixed, e.size * std::tuple_size_v<U>, e.depth + 1};
    } else
        // char32_t (1-4 bytes), strings, containers, optional, variant. (Not
        // looking inside them also keeps recursive structs finite.) And enums:
        // fixed in size, but their range is checked value by value.
        return {false, 0, 0};
}

// ------------------------------------------------------------ minimum size

/// The fewest bytes any value of T encodes to: bounds how many elements a
/// sequence length may claim.
template <class T>
constexpr std::size_t min_size();

template <class T, std::size_t... I>
constexpr std::size_t struct_min_size(std::index_sequence<I...>) {
    return (std::size_t{0} + ... + min_size<field_type<I, T>>());
}
template <class T, std::size_t... I>
constexpr std::size_t tuple_min_size(std::index_sequence<I...>) {
    return (std::size_t{0} + ... + min_size<std::remove_cv_t<std::tuple_element_t<I, T>>>());
}
template <class V>
struct variant_min_size;
template <class... T>
struct variant_min_size<std::variant<T...>> {
    static constexpr std::size_t value = 4 + std::min({min_size<T>()...});
};

template <class T>
constexpr std::size_t min_size() {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    if constexpr (k == Kind::Bool || k == Kind::Byte || k == Kind::Int || k == Kind::Float)
        return sizeof(U);
    else if constexpr (k == Kind::Char)
        return 1;
    else if constexpr (k == Kind::Enum)
        return 4;
    else if constexpr (k == Kind::Unit)
        return 0;
    else if constexpr (k == Kind::String || k == Kind::Vector || k == Kind::Set || k == Kind::Map)
        return 8;
    else if constexpr (k == Kind::Optional)
        return 1;
    else if constexpr (k == Kind::Variant)
        return variant_min_size<U>::value;
    else if constexpr (k == Kind::Struct)
        return struct_min_size<U>(std::make_index_sequence<field_count<U>>{});
    else if constexpr (k == Kind::Tuple)
        return tuple_min_size<U>(std::make_index_sequence<std::tuple_size_v<U>>{});
    else if constexpr (k == Kind::Array)
        return min_size<typename U::value_type>() * std::tuple_size_v<U>;
    else
        static_assert(dependent_false<U>, "lunatic::Bincode: unsupported type");
}

/// Element types copied with one memcpy on a little-endian host.
template <class T>
inline constexpr bool trivially_copied = std::endian::native == std::endian::little &&
                                         (kind_of<T>() == Kind::Int ||
                                          kind_of<T>() == Kind::Float ||
                                          kind_of<T>() == Kind::Byte);

// ------------------------------------------------------------ encoding

[[noreturn]] inline void too_deep_to_encode() {
    throw SerializationError("bincode: value nested deeper than " +
                             std::to_string(max_nesting_depth) + " levels");
}

inline int enter_encode(int depth) {
    if (depth >= max_nesting_depth) too_deep_to_encode();
    return depth + 1;
}

template <class E>
inline uint32_t enum_index(E value) {
    using B = std::underlying_type_t<E>;
    B raw = static_cast<B>(value);
    if constexpr (std::is_signed_v<B>) {
        if (raw < 0)
            throw SerializationError("bincode: enum value " + std::to_string(raw) +
                                     " is negative (enums encode as u32)");
    }
    if constexpr (sizeof(B) > 4) {
        if (static_cast<uint64_t>(raw) > std::numeric_limits<uint32_t>::max())
            throw SerializationError("bincode: enum value " + std::to_string(raw) +
                                     " does not fit in u32");
    }
    return static_cast<uint32_t>(raw);
}

/// Pass 1: the number of bytes value encodes to; checks what can fail
/// (nesting, UTF-8, enum range) so that pass 2 cannot.
template <class T>
std::size_t encoded_size(const T &value, int depth) {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    constexpr Shape s = shape<U>();
    if constexpr (s.fixed) {
        (void)value;
        if (depth + s.depth > max_nesting_depth) too_deep_to_encode();
        return s.size;
    } else if constexpr (k == Kind::Enum) {
        (void)depth;
        (void)enum_index(value);
        return 4;
    } else if constexpr (k == Kind::Char) {
        (void)depth;
        unsigned char buf[4];
        std::size_t n = utf8_encode(value, buf);
        if (n == 0)
            throw SerializationError("bincode: char32_t " + std::to_string(uint32_t(value)) +
                                     " is not a Unicode scalar value");
        return n;
    } else if constexpr (k == Kind::String) {
        (void)depth;
        if (!utf8_valid(value.data(), value.size()))
            throw SerializationError("bincode: std::string is not valid UTF-8");
        return 8 + value.size();
    } else if constexpr (k == Kind::Struct) {
        int d = enter_encode(depth);
        std::size_t n = 0;
        for_each_field(value, [&](const auto &f, auto) { n += encoded_size(f, d); });
        return n;
    } else if constexpr (k == Kind::Tuple) {
        int d = enter_encode(depth);
        return std::apply(
            [&](const auto &...e) { return (std::size_t{0} + ... + encoded_size(e, d)); }, value);
    } else if constexpr (k == Kind::Optional) {
        int d = enter_encode(depth);
        return 1 + (value ? encoded_size(*value, d) : 0);
    } else if constexpr (k == Kind::Variant) {
        int d = enter_encode(depth);
        if (value.valueless_by_exception())
            throw SerializationError("bincode: std::variant is valueless by exception");
        return 4 + std::visit([&](const auto &alt) { return encoded_size(alt, d); }, value);
    } else if constexpr (k == Kind::Array || k == Kind::Vector || k == Kind::Set) {
        int d = enter_encode(depth);
        using E = typename U::value_type;
        constexpr Shape es = shape<E>();
        std::size_t n = k == Kind::Array ? 0 : 8;
        if constexpr (es.fixed) {
            if (d + es.depth > max_nesting_depth) too_deep_to_encode();
            return n + es.size * value.size();
        } else {
            for (const auto &e : value) n += encoded_size(e, d);
            return n;
        }
    } else if constexpr (k == Kind::Map) {
        int d = enter_encode(depth);
        std::size_t n = 8;
        for (const auto &[key, v] : value) n += encoded_size(key, d) + encoded_size(v, d);
        return n;
    } else {
        static_assert(dependent_false<U>, "lunatic::Bincode: unsupported type");
    }
}

inline uint8_t *put_length(uint8_t *p, std::size_t n) noexcept {
    return store_le(p, static_cast<uint64_t>(n));
}

/// Pass 2: writes value at p (room made by pass 1); returns the end.
template <class T>
uint8_t *put(uint8_t *p, const T &value) {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    if constexpr (k == Kind::Bool) {
        *p = value ? 1 : 0;
        return p + 1;
    } else if constexpr (k == Kind::Byte) {
        *p = static_cast<uint8_t>(value);
        return p + 1;
    } else if constexpr (k == Kind::Int) {
        return store_le(p, static_cast<uint_for<U>>(value));
    } else if constexpr (k == Kind::Float) {
        return store_le(p, std::bit_cast<uint_for<U>>(value));
    } else if constexpr (k == Kind::Enum) {
        return store_le(p, enum_index(value));
    } else if constexpr (k == Kind::Unit) {
        return p;
    } else if constexpr (k == Kind::Char) {
        unsigned char buf[4];
        std::size_t n = utf8_encode(value, buf);
        std::memcpy(p, buf, n);
        return p + n;
    } else if constexpr (k == Kind::String) {
        p = put_length(p, value.size());
        if (!value.empty()) std::memcpy(p, value.data(), value.size());
        return p + value.size();
    } else if constexpr (k == Kind::Struct) {
        for_each_field(value, [&](const auto &f, auto) { p = put(p, f); });
        return p;
    } else if constexpr (k == Kind::Tuple) {
        std::apply([&](const auto &...e) { ((p = put(p, e)), ...); }, value);
        return p;
    } else if constexpr (k == Kind::Optional) {
        if (!value) {
            *p = 0;
            return p + 1;
        }
        *p = 1;
        return put(p + 1, *value);
    } else if constexpr (k == Kind::Variant) {
        p = store_le(p, static_cast<uint32_t>(value.index()));
        return std::visit([&](const auto &alt) { return put(p, alt); }, value);
    } else if constexpr (k == Kind::Array || k == Kind::Vector || k == Kind::Set) {
        using E = typename U::value_type;
        if constexpr (k != Kind::Array) p = put_length(p, value.size());
        if constexpr (k != Kind::Set && trivially_copied<E>) {
            std::size_t n = value.size() * sizeof(E);
            if (n) std::memcpy(p, value.data(), n);
            return p + n;
        } else {
            for (const auto &e : value) p = put(p, e);
            return p;
        }
    } else if constexpr (k == Kind::Map) {
        p = put_length(p, value.size());
        for (const auto &[key, v] : value) {
            p = put(p, key);
            p = put(p, v);
        }
        return p;
    } else {
        static_assert(dependent_false<U>, "lunatic::Bincode: unsupported type");
    }
}

// ------------------------------------------------------------ decoding

inline int enter_decode(int depth) {
    if (depth >= max_nesting_depth)
        throw DeserializationError("bincode: value nested deeper than " +
                                   std::to_string(max_nesting_depth) + " levels");
    return depth + 1;
}

template <class U>
inline U read_le(Reader &in) {
    return load_le<U>(in.take(sizeof(U)));
}

/// A u64 length; more than max_count is an error (before any allocation).
inline std::size_t read_length(Reader &in, uint64_t max_count, const char *what) {
    uint64_t n = read_le<uint64_t>(in);
    if (n > max_count)
        throw DeserializationError("bincode: " + std::string(what) + " length " +
                                   std::to_string(n) + " exceeds what the remaining " +
                                   std::to_string(in.remaining()) + " bytes can hold");
    return static_cast<std::size_t>(n);
}

/// The most elements of min_bytes encoded bytes each (and storage bytes of
/// C++ storage each) that the rest of the payload can hold.
///
/// The zero-size budget is one per Bincode::decode, shared by all the value's
/// sequences: per sequence, nesting would multiply it (a 264-byte payload of
/// 32 vectors of 2^24 std::monostate each took a second and 512 MiB). It is
/// thread-local because decoding never switches fibers.
inline thread_local std::size_t zero_size_left = zero_size_budget;

inline uint64_t max_elements(const Reader &in, std::size_t min_bytes, std::size_t storage) {
    if (min_bytes > 0) return in.remaining() / min_bytes;
    return zero_size_left / std::max<std::size_t>(storage, 1);
}

/// A sequence's length, checked by max_elements (and charged to the budget).
inline std::size_t read_count(Reader &in, std::size_t min_bytes, std::size_t storage,
                              const char *what) {
    std::size_t n = read_length(in, max_elements(in, min_bytes, storage), what);
    if (min_bytes == 0) zero_size_left -= n * std::max<std::size_t>(storage, 1);
    return n;
}

template <class T>
void get(Reader &in, T &value, int depth);

template <class V, std::size_t... I>
void get_alternative(Reader &in, V &value, uint32_t index, int depth, std::index_sequence<I...>) {
    (void)((index == I ? (get(in, value.template emplace<I>(), depth), true) : false) || ...);
}

template <class T>
void get(Reader &in, T &value, int depth) {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    if constexpr (k == Kind::Bool) {
        uint8_t b = in.get();
        if (b > 1) throw DeserializationError("bincode: invalid bool byte " + std::to_string(b));
        value = b == 1;
    } else if constexpr (k == Kind::Byte) {
        value = static_cast<std::byte>(in.get());
    } else if constexpr (k == Kind::Int) {
        value = static_cast<U>(read_le<uint_for<U>>(in));
    } else if constexpr (k == Kind::Float) {
        value = std::bit_cast<U>(read_le<uint_for<U>>(in));
    } else if constexpr (k == Kind::Enum) {
        using B = std::underlying_type_t<U>;
        uint32_t index = read_le<uint32_t>(in);
        if (static_cast<uint64_t>(index) > static_cast<uint64_t>(std::numeric_limits<B>::max()))
            throw DeserializationError("bincode: enum index " + std::to_string(index) +
                                       " out of range of the enum's underlying type");
        value = static_cast<U>(static_cast<B>(index));
    } else if constexpr (k == Kind::Unit) {
        (void)value;
    } else if constexpr (k == Kind::Char) {
        unsigned char buf[4];
        buf[0] = in.get();
        std::size_t n = utf8_sequence_length(buf[0]);
        if (n == 0) throw DeserializationError("bincode: invalid UTF-8 in a char");
        if (n > 1) {
            in.read(buf + 1, n - 1);
            if (!utf8_sequence_valid(buf, n))
                throw DeserializationError("bincode: invalid UTF-8 in a char");
        }
        value = utf8_decode_valid(buf, n);
    } else if constexpr (k == Kind::String) {
        std::size_t n = read_length(in, in.remaining(), "string");
        const uint8_t *p = in.take(n);
        if (!utf8_valid(p, n)) throw DeserializationError("bincode: string is not valid UTF-8");
        value.assign(reinterpret_cast<const char *>(p), n);
    } else if constexpr (k == Kind::Struct) {
        int d = enter_decode(depth);
        for_each_field(value, [&](auto &f, auto) { get(in, f, d); });
    } else if constexpr (k == Kind::Tuple) {
        int d = enter_decode(depth);
        std::apply([&](auto &...e) { (get(in, e, d), ...); }, value);
    } else if constexpr (k == Kind::Optional) {
        int d = enter_decode(depth);
        uint8_t tag = in.get();
        if (tag == 0) {
            value.reset();
        } else if (tag == 1) {
            get(in, value.emplace(), d);
        } else {
            throw DeserializationError("bincode: invalid Option tag " + std::to_string(tag));
        }
    } else if constexpr (k == Kind::Variant) {
        int d = enter_decode(depth);
        uint32_t index = read_le<uint32_t>(in);
        constexpr std::size_t n = std::variant_size_v<U>;
        if (index >= n)
            throw DeserializationError("bincode: variant index " + std::to_string(index) +
                                       " out of range (" + std::to_string(n) + " alternatives)");
        get_alternative(in, value, index, d, std::make_index_sequence<n>{});
    } else if constexpr (k == Kind::Array) {
        int d = enter_decode(depth);
        using E = typename U::value_type;
        if constexpr (trivially_copied<E>) {
            (void)d;
            in.read(value.data(), sizeof(E) * value.size());
        } else {
            for (auto &e : value) get(in, e, d);
        }
    } else if constexpr (k == Kind::Vector) {
        int d = enter_decode(depth);
        using E = typename U::value_type;
        std::size_t n = read_count(in, min_size<E>(), sizeof(E), "sequence");
        value.clear();
        if constexpr (trivially_copied<E>) {
            value.resize(n);
            in.read(value.data(), n * sizeof(E));
        } else if constexpr (std::is_same_v<E, bool>) {
            value.reserve(n);
            for (std::size_t i = 0; i < n; ++i) {
                bool b = false;
                get(in, b, d);
                value.push_back(b);
            }
        } else {
            value.reserve(n);
            for (std::size_t i = 0; i < n; ++i) get(in, value.emplace_back(), d);
        }
    } else if constexpr (k == Kind::Set) {
        int d = enter_decode(depth);
        using E = typename U::value_type;
        std::size_t n = read_count(in, min_size<E>(), sizeof(E), "set");
        value.clear();
        for (std::size_t i = 0; i < n; ++i) {
            E e{};
            get(in, e, d);
            value.insert(std::move(e));
        }
    } else if constexpr (k == Kind::Map) {
        int d = enter_decode(depth);
        using K = typename U::key_type;
        using V = typename U::mapped_type;
        std::size_t n = read_count(in, min_size<K>() + min_size<V>(), sizeof(K) + sizeof(V), "map");
        value.clear();
        for (std::size_t i = 0; i < n; ++i) {
            K key{};
            V v{};
            get(in, key, d);
            get(in, v, d);
            value.insert_or_assign(std::move(key), std::move(v));
        }
    } else {
        static_assert(dependent_false<U>, "lunatic::Bincode: unsupported type");
    }
}

}  // namespace detail::bincode

/// The default serializer: Rust bincode 1.x's default (fixint, little-endian)
/// encoding. See the top of this header and docs/wire-format.md.
struct Bincode {
    /// The serializer's part of a registry key (see lunatic/type_name.hpp).
    static constexpr const char *name = "bincode";

    /// Deepest nesting encode and decode accept.
    static constexpr int max_depth = detail::max_nesting_depth;

    template <class T>
    requires detail::Serializable<T>
    static void encode(Writer &out, const T &value) {
        std::size_t n = detail::bincode::encoded_size(value, 0);
        if (n == 0) return;
        uint8_t *at = out.extend(n);
        [[maybe_unused]] uint8_t *end = detail::bincode::put(at, value);
    }

    template <class T>
    requires detail::Serializable<T>
    static void decode(Reader &in, T &value) {
        detail::bincode::zero_size_left = detail::bincode::zero_size_budget;
        detail::bincode::get(in, value, 0);
    }

    /// The number of bytes encode writes for value (it throws what encode throws).
    template <class T>
    requires detail::Serializable<T>
    static std::size_t encoded_size(const T &value) {
        return detail::bincode::encoded_size(value, 0);
    }
};

}  // namespace lunatic
