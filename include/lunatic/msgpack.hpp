// lunatic::MessagePack: the serializer types of lunatic/serializer.hpp as
// MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md), with
// msgpack-c's C++ API (Debian's libmsgpack-cxx-dev). docs/wire-format.md
// describes every type; in short:
//
//   bool            true / false
//   integers, enums the smallest int format that holds the value
//   float / double  float 32 / float 64 (never shortened to an int)
//   char32_t        a str of that one character
//   std::string     str (UTF-8)
//   vector<uint8_t>, vector<std::byte>   bin
//   other vectors, sets, std::array, pair, tuple, struct   array
//   map             map
//   optional        nil or the value
//   variant         array [index, value]
//   std::monostate  nil
//
// Decoding takes the rest of the payload as exactly one MessagePack object
// (trailing bytes are an error). It first walks the bytes without building
// anything (every length must be backed by bytes, at most 128 nested
// arrays/maps), then unpacks with limits no larger than the payload, then
// converts; every failure is a lunatic::DeserializationError.
//
// This header defines MSGPACK_NO_BOOST before including <msgpack.hpp> (unless
// msgpack-c was already included, or LUNATIC_MSGPACK_USE_BOOST is defined) so
// that msgpack-c does not pull in Boost.
#pragma once

#if !defined(MSGPACK_NO_BOOST) && !defined(LUNATIC_MSGPACK_USE_BOOST) && \
    !defined(MSGPACK_OBJECT_HPP)
#define MSGPACK_NO_BOOST
#endif
#include <msgpack.hpp>

#if MSGPACK_DEFAULT_API_VERSION < 2
#error "lunatic/msgpack.hpp needs msgpack-c's API version 2 or later (MSGPACK_DEFAULT_API_VERSION)"
#endif

#include <algorithm>
#include <bit>
#include <cmath>
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
namespace detail::mpack {

// ------------------------------------------------------------ encoding

/// What msgpack::packer writes to: collects the bytes, which go to the
/// message in one piece at the end (small values never touch the heap).
class Buffer {
public:
    void write(const char *data, std::size_t n) {
        if (big_.empty() && n <= sizeof small_ - used_) {
            if (n) std::memcpy(small_ + used_, data, n);
            used_ += n;
            return;
        }
        if (big_.empty()) {
            big_.reserve(std::max<std::size_t>(4 * sizeof small_, used_ + n));
            big_.append(small_, used_);
        }
        big_.append(data, n);
    }
    void flush_to(Writer &out) const {
        if (big_.empty())
            out.write(small_, used_);
        else
            out.write(big_.data(), big_.size());
    }

private:
    char small_[256];
    std::size_t used_ = 0;
    std::string big_;
};

struct Encoder {
    Buffer buffer;
    msgpack::packer<Buffer> pk{buffer};
};

[[noreturn]] inline void too_deep_to_encode() {
    throw SerializationError("msgpack: value nested deeper than " +
                             std::to_string(max_nesting_depth) + " arrays/maps");
}

/// One more array/map level.
inline int enter_encode(int depth) {
    if (depth >= max_nesting_depth) too_deep_to_encode();
    return depth + 1;
}

/// MessagePack lengths are 32-bit.
inline uint32_t length32(std::size_t n, const char *what) {
    if (n > std::numeric_limits<uint32_t>::max())
        throw SerializationError(std::string("msgpack: ") + what + " too long (" +
                                 std::to_string(n) + ", the format's maximum is 2^32-1)");
    return static_cast<uint32_t>(n);
}

template <class I>
void pack_integer(Encoder &e, I v) {
    if constexpr (std::is_signed_v<I>)
        e.pk.pack_int64(static_cast<int64_t>(v));
    else
        e.pk.pack_uint64(static_cast<uint64_t>(v));
}

/// float 32 / float 64 as such: msgpack-c's pack_float/pack_double would write
/// integral values (and -0.0) as ints.
template <class F>
void pack_floating(Encoder &e, F v) {
    using Bits = std::conditional_t<sizeof(F) == 4, uint32_t, uint64_t>;
    Bits bits = std::bit_cast<Bits>(v);
    char out[1 + sizeof(Bits)];
    out[0] = static_cast<char>(sizeof(F) == 4 ? 0xca : 0xcb);
    for (std::size_t i = 0; i < sizeof(Bits); ++i)
        out[1 + i] = static_cast<char>(static_cast<uint8_t>(bits >> (8 * (sizeof(Bits) - 1 - i))));
    e.buffer.write(out, sizeof out);
}

inline void pack_string(Encoder &e, const char *data, std::size_t n) {
    uint32_t len = length32(n, "string");
    e.pk.pack_str(len);
    e.pk.pack_str_body(data, len);
}

template <class T>
void pack(Encoder &e, const T &value, int depth) {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    if constexpr (k == Kind::Bool) {
        if (value)
            e.pk.pack_true();
        else
            e.pk.pack_false();
    } else if constexpr (k == Kind::Byte) {
        e.pk.pack_uint64(static_cast<uint8_t>(value));
    } else if constexpr (k == Kind::Int) {
        pack_integer(e, value);
    } else if constexpr (k == Kind::Enum) {
        pack_integer(e, static_cast<std::underlying_type_t<U>>(value));
    } else if constexpr (k == Kind::Float) {
        pack_floating(e, value);
    } else if constexpr (k == Kind::Char) {
        unsigned char buf[4];
        std::size_t n = utf8_encode(value, buf);
        if (n == 0)
            throw SerializationError("msgpack: char32_t " + std::to_string(uint32_t(value)) +
                                     " is not a Unicode scalar value");
        pack_string(e, reinterpret_cast<const char *>(buf), n);
    } else if constexpr (k == Kind::String) {
        if (!utf8_valid(value.data(), value.size()))
            throw SerializationError("msgpack: std::string is not valid UTF-8");
        pack_string(e, value.data(), value.size());
    } else if constexpr (k == Kind::Unit) {
        e.pk.pack_nil();
    } else if constexpr (k == Kind::Optional) {
        if (value)
            pack(e, *value, depth);
        else
            e.pk.pack_nil();
    } else if constexpr (k == Kind::Variant) {
        int d = enter_encode(depth);
        if (value.valueless_by_exception())
            throw SerializationError("msgpack: std::variant is valueless by exception");
        e.pk.pack_array(2);
        e.pk.pack_uint64(value.index());
        std::visit([&](const auto &alt) { pack(e, alt, d); }, value);
    } else if constexpr (k == Kind::Tuple) {
        int d = enter_encode(depth);
        e.pk.pack_array(static_cast<uint32_t>(std::tuple_size_v<U>));
        std::apply([&](const auto &...x) { (pack(e, x, d), ...); }, value);
    } else if constexpr (k == Kind::Struct) {
        int d = enter_encode(depth);
        e.pk.pack_array(static_cast<uint32_t>(field_count<U>));
        for_each_field(value, [&](const auto &f, auto) { pack(e, f, d); });
    } else if constexpr (k == Kind::Vector && Octet<typename U::value_type>) {
        uint32_t len = length32(value.size(), "byte vector");
        e.pk.pack_bin(len);
        e.pk.pack_bin_body(reinterpret_cast<const char *>(value.data()), len);
    } else if constexpr (k == Kind::Array || k == Kind::Vector || k == Kind::Set) {
        int d = enter_encode(depth);
        e.pk.pack_array(length32(value.size(), "array"));
        for (const auto &x : value) pack(e, x, d);
    } else if constexpr (k == Kind::Map) {
        int d = enter_encode(depth);
        e.pk.pack_map(length32(value.size(), "map"));
        for (const auto &[key, v] : value) {
            pack(e, key, d);
            pack(e, v, d);
        }
    } else {
        static_assert(dependent_false<U>, "lunatic::MessagePack: unsupported type");
    }
}

// ------------------------------------------------------------ decoding

/// First pass: msgpack-c's parser with this visitor checks that the bytes are
/// well-formed and complete (a length not backed by bytes is an error) and
/// nest at most max_nesting_depth arrays/maps, allocating nothing per element.
struct Validator : msgpack::null_visitor {
    int depth = 0;
    bool too_deep = false;
    bool enter() {
        if (++depth > max_nesting_depth) {
            too_deep = true;
            return false;
        }
        return true;
    }
    bool start_array(uint32_t) { return enter(); }
    bool end_array() {
        --depth;
        return true;
    }
    bool start_map(uint32_t) { return enter(); }
    bool end_map() {
        --depth;
        return true;
    }
};

inline const char *type_name(const msgpack::object &o) {
    switch (o.type) {
    case msgpack::type::NIL:
        return "nil";
    case msgpack::type::BOOLEAN:
        return "bool";
    case msgpack::type::POSITIVE_INTEGER:
        return "positive integer";
    case msgpack::type::NEGATIVE_INTEGER:
        return "negative integer";
    case msgpack::type::FLOAT32:
        return "float 32";
    case msgpack::type::FLOAT64:
        return "float 64";
    case msgpack::type::STR:
        return "str";
    case msgpack::type::BIN:
        return "bin";
    case msgpack::type::ARRAY:
        return "array";
    case msgpack::type::MAP:
        return "map";
    case msgpack::type::EXT:
        return "ext";
    }
    return "unknown";
}

[[noreturn]] inline void mismatch(const msgpack::object &o, const std::string &expected) {
    throw DeserializationError("msgpack: expected " + expected + ", got " + type_name(o));
}

template <class I>
I to_integer(const msgpack::object &o) {
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
        if (o.via.u64 > static_cast<uint64_t>(std::numeric_limits<I>::max()))
            throw DeserializationError("msgpack: integer " + std::to_string(o.via.u64) +
                                       " out of range of the target type");
        return static_cast<I>(o.via.u64);
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) {
        if constexpr (std::is_signed_v<I>) {
            if (o.via.i64 >= static_cast<int64_t>(std::numeric_limits<I>::min()))
                return static_cast<I>(o.via.i64);
        }
        throw DeserializationError("msgpack: integer " + std::to_string(o.via.i64) +
                                   " out of range of the target type");
    }
    mismatch(o, "an integer");
}

template <class F>
F to_floating(const msgpack::object &o) {
    switch (o.type) {
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
        if constexpr (std::is_same_v<F, float>) {
            if (std::isfinite(o.via.f64) &&
                std::fabs(o.via.f64) > std::numeric_limits<float>::max())
                throw DeserializationError("msgpack: " + std::to_string(o.via.f64) +
                                           " out of range of float");
        }
        return static_cast<F>(o.via.f64);
    case msgpack::type::POSITIVE_INTEGER:
        return static_cast<F>(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
        return static_cast<F>(o.via.i64);
    default:
        mismatch(o, "a float");
    }
}

inline const msgpack::object_array &array_of(const msgpack::object &o, std::size_t exact,
                                             const char *what) {
    if (o.type != msgpack::type::ARRAY) mismatch(o, std::string("an array (") + what + ")");
    if (exact != std::size_t(-1) && o.via.array.size != exact)
        throw DeserializationError("msgpack: expected an array of " + std::to_string(exact) + " (" +
                                   what + "), got " + std::to_string(o.via.array.size) +
                                   " elements");
    return o.via.array;
}

template <class T>
void unpack(const msgpack::object &o, T &value);

template <class V, std::size_t... I>
void unpack_alternative(const msgpack::object &o, V &value, uint64_t index,
                        std::index_sequence<I...>) {
    (void)((index == I ? (unpack(o, value.template emplace<I>()), true) : false) || ...);
}

template <class T>
void unpack(const msgpack::object &o, T &value) {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    if constexpr (k == Kind::Bool) {
        if (o.type != msgpack::type::BOOLEAN) mismatch(o, "a bool");
        value = o.via.boolean;
    } else if constexpr (k == Kind::Byte) {
        value = static_cast<std::byte>(to_integer<uint8_t>(o));
    } else if constexpr (k == Kind::Int) {
        value = to_integer<U>(o);
    } else if constexpr (k == Kind::Enum) {
        value = static_cast<U>(to_integer<std::underlying_type_t<U>>(o));
    } else if constexpr (k == Kind::Float) {
        value = to_floating<U>(o);
    } else if constexpr (k == Kind::Char) {
        if (o.type != msgpack::type::STR) mismatch(o, "a str (char32_t)");
        value = utf8_single_char(o.via.str.ptr, o.via.str.size, "msgpack");
    } else if constexpr (k == Kind::String) {
        if (o.type != msgpack::type::STR) mismatch(o, "a str");
        if (!utf8_valid(o.via.str.ptr, o.via.str.size))
            throw DeserializationError("msgpack: str is not valid UTF-8");
        value.assign(o.via.str.ptr, o.via.str.size);
    } else if constexpr (k == Kind::Unit) {
        if (o.type != msgpack::type::NIL) mismatch(o, "nil (std::monostate)");
        (void)value;
    } else if constexpr (k == Kind::Optional) {
        if (o.type == msgpack::type::NIL)
            value.reset();
        else
            unpack(o, value.emplace());
    } else if constexpr (k == Kind::Variant) {
        const auto &a = array_of(o, 2, "[index, value] of a variant");
        constexpr std::size_t n = std::variant_size_v<U>;
        if (a.ptr[0].type != msgpack::type::POSITIVE_INTEGER) mismatch(a.ptr[0], "a variant index");
        uint64_t index = a.ptr[0].via.u64;
        if (index >= n)
            throw DeserializationError("msgpack: variant index " + std::to_string(index) +
                                       " out of range (" + std::to_string(n) + " alternatives)");
        unpack_alternative(a.ptr[1], value, index, std::make_index_sequence<n>{});
    } else if constexpr (k == Kind::Tuple) {
        const auto &a = array_of(o, std::tuple_size_v<U>, "tuple");
        std::size_t i = 0;
        std::apply([&](auto &...x) { (unpack(a.ptr[i++], x), ...); }, value);
    } else if constexpr (k == Kind::Struct) {
        const auto &a = array_of(o, field_count<U>, "struct fields");
        for_each_field(value,
                       [&](auto &f, auto index) { unpack(a.ptr[decltype(index)::value], f); });
    } else if constexpr (k == Kind::Array) {
        const auto &a = array_of(o, std::tuple_size_v<U>, "std::array");
        for (std::size_t i = 0; i < a.size; ++i) unpack(a.ptr[i], value[i]);
    } else if constexpr (k == Kind::Vector && Octet<typename U::value_type>) {
        if (o.type != msgpack::type::BIN) mismatch(o, "a bin (byte vector)");
        const auto *p = reinterpret_cast<const typename U::value_type *>(o.via.bin.ptr);
        value.assign(p, p + o.via.bin.size);
    } else if constexpr (k == Kind::Vector) {
        const auto &a = array_of(o, std::size_t(-1), "sequence");
        value.clear();
        value.reserve(a.size);
        for (uint32_t i = 0; i < a.size; ++i) {
            if constexpr (std::is_same_v<typename U::value_type, bool>) {
                bool b = false;
                unpack(a.ptr[i], b);
                value.push_back(b);
            } else {
                unpack(a.ptr[i], value.emplace_back());
            }
        }
    } else if constexpr (k == Kind::Set) {
        const auto &a = array_of(o, std::size_t(-1), "set");
        value.clear();
        for (uint32_t i = 0; i < a.size; ++i) {
            typename U::value_type x{};
            unpack(a.ptr[i], x);
            value.insert(std::move(x));
        }
    } else if constexpr (k == Kind::Map) {
        if (o.type != msgpack::type::MAP) mismatch(o, "a map");
        value.clear();
        for (uint32_t i = 0; i < o.via.map.size; ++i) {
            typename U::key_type key{};
            typename U::mapped_type v{};
            unpack(o.via.map.ptr[i].key, key);
            unpack(o.via.map.ptr[i].val, v);
            value.insert_or_assign(std::move(key), std::move(v));
        }
    } else {
        static_assert(dependent_false<U>, "lunatic::MessagePack: unsupported type");
    }
}

}  // namespace detail::mpack

/// MessagePack through msgpack-c. See the top of this header and
/// docs/wire-format.md.
struct MessagePack {
    /// The serializer's part of a registry key (see lunatic/type_name.hpp).
    static constexpr const char *name = "msgpack";

    /// Deepest nesting of arrays/maps encode and decode accept.
    static constexpr int max_depth = detail::max_nesting_depth;

    template <class T>
    requires detail::Serializable<T>
    static void encode(Writer &out, const T &value) {
        detail::mpack::Encoder e;
        detail::mpack::pack(e, value, 0);
        e.buffer.flush_to(out);
    }

    /// Decodes the rest of the payload, which must be exactly one object.
    template <class T>
    requires detail::Serializable<T>
    static void decode(Reader &in, T &value) {
        std::size_t size = 0;
        const char *data = reinterpret_cast<const char *>(in.take_rest(&size));
        try {
            detail::mpack::Validator check;
            std::size_t end = 0;
            bool ok = size > 0 && msgpack::parse(data, size, end, check);
            if (check.too_deep)
                throw DeserializationError("msgpack: nested deeper than " +
                                           std::to_string(max_depth) + " arrays/maps");
            if (!ok) throw DeserializationError("msgpack: malformed or truncated payload");
            if (end != size)
                throw DeserializationError("msgpack: " + std::to_string(size - end) +
                                           " trailing bytes after the value");
            // Every element takes at least one byte, every map entry two.
            msgpack::unpack_limit limit(size, size / 2, size, size, size, max_depth);
            std::size_t offset = 0;
            msgpack::object_handle handle =
                msgpack::unpack(data, size, offset, nullptr, nullptr, limit);
            detail::mpack::unpack(handle.get(), value);
        } catch (const Error &) {
            throw;
        } catch (const msgpack::unpack_error &e) {
            throw DeserializationError(std::string("msgpack: ") + e.what());
        } catch (const msgpack::type_error &e) {
            throw DeserializationError(std::string("msgpack: ") + e.what());
        }
    }
};

}  // namespace lunatic
