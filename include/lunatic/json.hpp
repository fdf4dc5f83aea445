// lunatic::Json: the serializer types of lunatic/serializer.hpp as JSON text
// (RFC 8259, UTF-8), with nlohmann_json. docs/wire-format.md describes every
// type; in short:
//
//   bool            true / false
//   integers, enums, std::byte   JSON integers, exact over the whole
//                   int64/uint64 range
//   float / double  JSON numbers (NaN and infinities cannot be encoded)
//   char32_t        a string of that one character
//   std::string     a string
//   struct          an object keyed by field name, fields in declaration order
//   vector, set, std::array, pair, tuple   an array (byte vectors too)
//   map             an object if the key is std::string, otherwise an array
//                   of [key, value] arrays
//   optional        null or the value
//   variant         {"index": i, "value": v}
//   std::monostate  null
//
// Decoding parses the rest of the payload as exactly one JSON value (only
// whitespace may follow it) nested at most 128 arrays/objects deep; a missing
// struct field is an error, extra members are ignored. Every failure is a
// lunatic::DeserializationError.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "lunatic/detail/serde.hpp"
#include "lunatic/error.hpp"
#include "lunatic/serializer.hpp"

namespace lunatic {
namespace detail::json {

/// Encoding builds an ordered_json (members stay in declaration order);
/// decoding parses into a json (members looked up in O(log n)).
using Out = nlohmann::ordered_json;
using In = nlohmann::json;

// ------------------------------------------------------------ encoding

/// One more array/object level.
inline int enter_encode(int depth) {
    if (depth >= max_nesting_depth)
        throw SerializationError("json: value nested deeper than " +
                                 std::to_string(max_nesting_depth) + " arrays/objects");
    return depth + 1;
}

template <class I>
Out integer_json(I v) {
    if constexpr (std::is_signed_v<I>)
        return Out(static_cast<int64_t>(v));
    else
        return Out(static_cast<uint64_t>(v));
}

template <class T>
Out to_json(const T &value, int depth);

/// Appends a member whose key is known to be new (keys of a C++ map are unique).
inline void add_member(Out &object, const std::string &key, Out &&v) {
    auto &members = object.get_ref<Out::object_t &>();
    static_cast<Out::object_t::Container &>(members).emplace_back(key, std::move(v));
}

template <class C>
Out array_json(const C &items, int depth) {
    int d = enter_encode(depth);
    Out out = Out::array();
    auto &elements = out.get_ref<Out::array_t &>();
    elements.reserve(items.size());
    for (const auto &x : items) elements.push_back(to_json(x, d));
    return out;
}

template <class T>
Out to_json(const T &value, int depth) {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    if constexpr (k == Kind::Bool) {
        return Out(static_cast<bool>(value));
    } else if constexpr (k == Kind::Byte) {
        return Out(static_cast<uint64_t>(value));
    } else if constexpr (k == Kind::Int) {
        return integer_json(value);
    } else if constexpr (k == Kind::Enum) {
        return integer_json(static_cast<std::underlying_type_t<U>>(value));
    } else if constexpr (k == Kind::Float) {
        if (!std::isfinite(value))
            throw SerializationError("json: " + std::to_string(value) +
                                     " cannot be encoded (JSON has no NaN or infinity)");
        return Out(static_cast<double>(value));
    } else if constexpr (k == Kind::Char) {
        unsigned char buf[4];
        std::size_t n = utf8_encode(value, buf);
        if (n == 0)
            throw SerializationError("json: char32_t " + std::to_string(uint32_t(value)) +
                                     " is not a Unicode scalar value");
        return Out(std::string(reinterpret_cast<const char *>(buf), n));
    } else if constexpr (k == Kind::String) {
        if (!utf8_valid(value.data(), value.size()))
            throw SerializationError("json: std::string is not valid UTF-8");
        return Out(value);
    } else if constexpr (k == Kind::Unit) {
        return Out(nullptr);
    } else if constexpr (k == Kind::Optional) {
        return value ? to_json(*value, depth) : Out(nullptr);
    } else if constexpr (k == Kind::Variant) {
        int d = enter_encode(depth);
        if (value.valueless_by_exception())
            throw SerializationError("json: std::variant is valueless by exception");
        Out out = Out::object();
        add_member(out, "index", Out(static_cast<uint64_t>(value.index())));
        add_member(out, "value",
                   std::visit([&](const auto &alt) { return to_json(alt, d); }, value));
        return out;
    } else if constexpr (k == Kind::Tuple) {
        int d = enter_encode(depth);
        Out out = Out::array();
        std::apply([&](const auto &...x) { (out.push_back(to_json(x, d)), ...); }, value);
        return out;
    } else if constexpr (k == Kind::Struct) {
        int d = enter_encode(depth);
        Out out = Out::object();
        constexpr auto names = field_names<U>();
        for_each_field(value, [&](const auto &f, auto index) {
            out[names[decltype(index)::value]] = to_json(f, d);
        });
        return out;
    } else if constexpr (k == Kind::Array || k == Kind::Vector || k == Kind::Set) {
        return array_json(value, depth);
    } else if constexpr (k == Kind::Map && std::is_same_v<typename U::key_type, std::string>) {
        int d = enter_encode(depth);
        Out out = Out::object();
        for (const auto &[key, v] : value) {
            if (!utf8_valid(key.data(), key.size()))
                throw SerializationError("json: map key is not valid UTF-8");
            add_member(out, key, to_json(v, d));
        }
        return out;
    } else if constexpr (k == Kind::Map) {
        int outer = enter_encode(depth);
        int d = enter_encode(outer);
        Out out = Out::array();
        auto &entries = out.get_ref<Out::array_t &>();
        entries.reserve(value.size());
        for (const auto &[key, v] : value) {
            Out entry = Out::array();
            entry.push_back(to_json(key, d));
            entry.push_back(to_json(v, d));
            entries.push_back(std::move(entry));
        }
        return out;
    } else {
        static_assert(dependent_false<U>, "lunatic::Json: unsupported type");
    }
}

// ------------------------------------------------------------ decoding

[[noreturn]] inline void mismatch(const In &j, const std::string &expected) {
    throw DeserializationError("json: expected " + expected + ", got " + j.type_name());
}

template <class I>
I to_integer(const In &j) {
    if (j.is_number_unsigned()) {
        uint64_t v = j.get<uint64_t>();
        if (v > static_cast<uint64_t>(std::numeric_limits<I>::max()))
            throw DeserializationError("json: integer " + std::to_string(v) +
                                       " out of range of the target type");
        return static_cast<I>(v);
    }
    if (j.is_number_integer()) {  // negative
        int64_t v = j.get<int64_t>();
        if constexpr (std::is_signed_v<I>) {
            if (v >= static_cast<int64_t>(std::numeric_limits<I>::min()) &&
                v <= static_cast<int64_t>(std::numeric_limits<I>::max()))
                return static_cast<I>(v);
        }
        throw DeserializationError("json: integer " + std::to_string(v) +
                                   " out of range of the target type");
    }
    mismatch(j, "an integer");
}

template <class F>
F to_floating(const In &j) {
    if (j.is_number_float()) {
        double v = j.get<double>();
        if constexpr (std::is_same_v<F, float>) {
            if (std::fabs(v) > std::numeric_limits<float>::max())
                throw DeserializationError("json: " + std::to_string(v) + " out of range of float");
        }
        return static_cast<F>(v);
    }
    if (j.is_number_unsigned()) return static_cast<F>(j.get<uint64_t>());
    if (j.is_number_integer()) return static_cast<F>(j.get<int64_t>());
    mismatch(j, "a number");
}

inline const In::array_t &array_of(const In &j, std::size_t exact, const char *what) {
    if (!j.is_array()) mismatch(j, std::string("an array (") + what + ")");
    const auto &a = j.get_ref<const In::array_t &>();
    if (exact != std::size_t(-1) && a.size() != exact)
        throw DeserializationError("json: expected an array of " + std::to_string(exact) + " (" +
                                   what + "), got " + std::to_string(a.size()) + " elements");
    return a;
}

inline const In &member(const In &j, const char *name, const char *what) {
    auto it = j.find(name);
    if (it == j.end())
        throw DeserializationError(std::string("json: missing member \"") + name + "\" (" + what +
                                   ")");
    return *it;
}

template <class T>
void from_json(const In &j, T &value);

template <class V, std::size_t... I>
void alternative_from_json(const In &j, V &value, uint64_t index, std::index_sequence<I...>) {
    (void)((index == I ? (from_json(j, value.template emplace<I>()), true) : false) || ...);
}

template <class T>
void from_json(const In &j, T &value) {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    if constexpr (k == Kind::Bool) {
        if (!j.is_boolean()) mismatch(j, "a boolean");
        value = j.get<bool>();
    } else if constexpr (k == Kind::Byte) {
        value = static_cast<std::byte>(to_integer<uint8_t>(j));
    } else if constexpr (k == Kind::Int) {
        value = to_integer<U>(j);
    } else if constexpr (k == Kind::Enum) {
        value = static_cast<U>(to_integer<std::underlying_type_t<U>>(j));
    } else if constexpr (k == Kind::Float) {
        value = to_floating<U>(j);
    } else if constexpr (k == Kind::Char) {
        if (!j.is_string()) mismatch(j, "a string (char32_t)");
        const auto &s = j.get_ref<const In::string_t &>();
        value = utf8_single_char(s.data(), s.size(), "json");
    } else if constexpr (k == Kind::String) {
        if (!j.is_string()) mismatch(j, "a string");
        const auto &s = j.get_ref<const In::string_t &>();
        if (!utf8_valid(s.data(), s.size()))
            throw DeserializationError("json: string is not valid UTF-8");
        value = s;
    } else if constexpr (k == Kind::Unit) {
        if (!j.is_null()) mismatch(j, "null (std::monostate)");
        (void)value;
    } else if constexpr (k == Kind::Optional) {
        if (j.is_null())
            value.reset();
        else
            from_json(j, value.emplace());
    } else if constexpr (k == Kind::Variant) {
        if (!j.is_object()) mismatch(j, "an object {\"index\", \"value\"} (variant)");
        const In &index_json = member(j, "index", "variant");
        const In &inner = member(j, "value", "variant");
        if (!index_json.is_number_unsigned()) mismatch(index_json, "a variant index");
        uint64_t index = index_json.get<uint64_t>();
        constexpr std::size_t n = std::variant_size_v<U>;
        if (index >= n)
            throw DeserializationError("json: variant index " + std::to_string(index) +
                                       " out of range (" + std::to_string(n) + " alternatives)");
        alternative_from_json(inner, value, index, std::make_index_sequence<n>{});
    } else if constexpr (k == Kind::Tuple) {
        const auto &a = array_of(j, std::tuple_size_v<U>, "tuple");
        std::size_t i = 0;
        std::apply([&](auto &...x) { (from_json(a[i++], x), ...); }, value);
    } else if constexpr (k == Kind::Struct) {
        if (!j.is_object()) mismatch(j, "an object (struct)");
        constexpr auto names = field_names<U>();
        for_each_field(value, [&](auto &f, auto index) {
            from_json(member(j, names[decltype(index)::value], "struct field"), f);
        });
    } else if constexpr (k == Kind::Array) {
        const auto &a = array_of(j, std::tuple_size_v<U>, "std::array");
        for (std::size_t i = 0; i < a.size(); ++i) from_json(a[i], value[i]);
    } else if constexpr (k == Kind::Vector) {
        const auto &a = array_of(j, std::size_t(-1), "sequence");
        value.clear();
        value.reserve(a.size());
        for (const In &x : a) {
            if constexpr (std::is_same_v<typename U::value_type, bool>) {
                bool b = false;
                from_json(x, b);
                value.push_back(b);
            } else {
                from_json(x, value.emplace_back());
            }
        }
    } else if constexpr (k == Kind::Set) {
        const auto &a = array_of(j, std::size_t(-1), "set");
        value.clear();
        for (const In &x : a) {
            typename U::value_type e{};
            from_json(x, e);
            value.insert(std::move(e));
        }
    } else if constexpr (k == Kind::Map && std::is_same_v<typename U::key_type, std::string>) {
        if (!j.is_object()) mismatch(j, "an object (map with string keys)");
        value.clear();
        for (const auto &[key, x] : j.get_ref<const In::object_t &>()) {
            typename U::mapped_type v{};
            from_json(x, v);
            value.insert_or_assign(key, std::move(v));
        }
    } else if constexpr (k == Kind::Map) {
        const auto &a = array_of(j, std::size_t(-1), "map entries");
        value.clear();
        for (const In &entry : a) {
            const auto &kv = array_of(entry, 2, "[key, value] map entry");
            typename U::key_type key{};
            typename U::mapped_type v{};
            from_json(kv[0], key);
            from_json(kv[1], v);
            value.insert_or_assign(std::move(key), std::move(v));
        }
    } else {
        static_assert(dependent_false<U>, "lunatic::Json: unsupported type");
    }
}

}  // namespace detail::json

/// JSON through nlohmann_json. See the top of this header and docs/wire-format.md.
struct Json {
    /// The serializer's part of a registry key (see lunatic/type_name.hpp).
    static constexpr const char *name = "json";

    /// Deepest nesting of arrays/objects encode and decode accept.
    static constexpr int max_depth = detail::max_nesting_depth;

    template <class T>
    requires detail::Serializable<T>
    static void encode(Writer &out, const T &value) {
        std::string text;
        try {
            text = detail::json::to_json(value, 0).dump();
        } catch (const nlohmann::json::exception &e) {
            throw SerializationError(std::string("json: ") + e.what());
        }
        out.write(text.data(), text.size());
    }

    /// Decodes the rest of the payload, which must be exactly one JSON value.
    template <class T>
    requires detail::Serializable<T>
    static void decode(Reader &in, T &value) {
        std::size_t size = 0;
        const uint8_t *data = in.take_rest(&size);
        try {
            using Event = detail::json::In::parse_event_t;
            detail::json::In j = detail::json::In::parse(
                data, data + size, [](int depth, Event event, detail::json::In &) {
                    if ((event == Event::object_start || event == Event::array_start) &&
                        depth >= max_depth)
                        throw DeserializationError("json: nested deeper than " +
                                                   std::to_string(max_depth) + " arrays/objects");
                    return true;
                });
            detail::json::from_json(j, value);
        } catch (const Error &) {
            throw;
        } catch (const nlohmann::json::exception &e) {
            throw DeserializationError(std::string("json: ") + e.what());
        }
    }
};

}  // namespace lunatic
