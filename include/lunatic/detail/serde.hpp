// What the shipped serializers (Bincode, MessagePack, Json) share: the set of
// supported types, UTF-8 checking and the nesting limit. Not public API.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "lunatic/error.hpp"
#include "lunatic/serializer.hpp"

namespace lunatic::detail {

/// Values nest at most this many levels (see docs/wire-format.md for what each
/// serializer counts as a level). Deeper input is a DeserializationError;
/// encoding a deeper value is a SerializationError.
inline constexpr int max_nesting_depth = 128;

template <class>
inline constexpr bool dependent_false = false;

// ------------------------------------------------------------ type families

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_pair : std::false_type {};
template <class A, class B>
struct is_pair<std::pair<A, B>> : std::true_type {};

template <class T>
struct is_tuple : std::false_type {};
template <class... T>
struct is_tuple<std::tuple<T...>> : std::true_type {};

template <class T>
struct is_variant : std::false_type {};
template <class... T>
struct is_variant<std::variant<T...>> : std::true_type {};

/// std::map and std::unordered_map (sequences of key/value entries).
template <class T>
struct is_map : std::false_type {};
template <class K, class V, class C, class A>
struct is_map<std::map<K, V, C, A>> : std::true_type {};
template <class K, class V, class H, class E, class A>
struct is_map<std::unordered_map<K, V, H, E, A>> : std::true_type {};

/// std::set and std::unordered_set (sequences of unique elements).
template <class T>
struct is_set : std::false_type {};
template <class K, class C, class A>
struct is_set<std::set<K, C, A>> : std::true_type {};
template <class K, class H, class E, class A>
struct is_set<std::unordered_set<K, H, E, A>> : std::true_type {};

/// Integers encoded as integers: every integral type but bool and char32_t
/// (char32_t is a Unicode scalar value, like Rust's char).
template <class T>
concept Integer = std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char32_t>;

/// The element types of a "byte vector" (MessagePack bin): uint8_t / unsigned char and std::byte.
template <class T>
concept Octet = std::is_same_v<T, unsigned char> || std::is_same_v<T, std::byte>;

template <class T>
concept Float = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// C++ enums (std::byte, an enum too, is a byte, not an enum, here).
template <class T>
concept Enum = std::is_enum_v<T> && !std::is_same_v<T, std::byte>;

/// Which family a supported type belongs to; every serializer dispatches on it.
enum class Kind {
    Struct,  // Reflected (LUNATIC_FIELDS)
    Bool,
    Char,   // char32_t
    Byte,   // std::byte
    Int,    // Integer
    Float,  // float, double
    Enum,
    String,  // std::string
    Unit,    // std::monostate
    Optional,
    Variant,
    Tuple,   // std::pair, std::tuple
    Array,   // std::array
    Vector,  // std::vector
    Set,     // std::set, std::unordered_set
    Map,     // std::map, std::unordered_map
    Unsupported,
};

template <class T>
constexpr Kind kind_of() {
    using U = std::remove_cv_t<T>;
    if constexpr (Reflected<U>)
        return Kind::Struct;
    else if constexpr (std::is_same_v<U, bool>)
        return Kind::Bool;
    else if constexpr (std::is_same_v<U, char32_t>)
        return Kind::Char;
    else if constexpr (std::is_same_v<U, std::byte>)
        return Kind::Byte;
    else if constexpr (Integer<U>)
        return Kind::Int;
    else if constexpr (Float<U>)
        return Kind::Float;
    else if constexpr (Enum<U>)
        return Kind::Enum;
    else if constexpr (std::is_same_v<U, std::string>)
        return Kind::String;
    else if constexpr (std::is_same_v<U, std::monostate>)
        return Kind::Unit;
    else if constexpr (is_optional<U>::value)
        return Kind::Optional;
    else if constexpr (is_variant<U>::value)
        return Kind::Variant;
    else if constexpr (is_pair<U>::value || is_tuple<U>::value)
        return Kind::Tuple;
    else if constexpr (is_std_array<U>::value)
        return Kind::Array;
    else if constexpr (is_vector<U>::value)
        return Kind::Vector;
    else if constexpr (is_set<U>::value)
        return Kind::Set;
    else if constexpr (is_map<U>::value)
        return Kind::Map;
    else
        return Kind::Unsupported;
}

template <class T>
constexpr bool serializable();

template <class Tuple, std::size_t... I>
constexpr bool all_serializable(std::index_sequence<I...>) {
    return (serializable<std::tuple_element_t<I, Tuple>>() && ...);
}

template <class V>
struct variant_serializable;
template <class... T>
struct variant_serializable<std::variant<T...>> {
    static constexpr bool value = (serializable<T>() && ...);
};

/// The types the three shipped serializers support. A Reflected struct counts
/// as supported without looking into its fields (they may be recursive, e.g.
/// a tree node holding a std::vector of nodes); an unsupported field is a
/// compile error where the struct is encoded.
template <class T>
constexpr bool serializable() {
    using U = std::remove_cv_t<T>;
    constexpr Kind k = kind_of<U>();
    if constexpr (k == Kind::Unsupported)
        return false;
    else if constexpr (k == Kind::Vector || k == Kind::Optional || k == Kind::Array ||
                       k == Kind::Set)
        return serializable<typename U::value_type>();
    else if constexpr (k == Kind::Map)
        return serializable<typename U::key_type>() && serializable<typename U::mapped_type>();
    else if constexpr (k == Kind::Tuple)
        return all_serializable<U>(std::make_index_sequence<std::tuple_size_v<U>>{});
    else if constexpr (k == Kind::Variant)
        return variant_serializable<U>::value;
    else
        return true;
}

/// T is one of the supported types (docs/wire-format.md lists them).
template <class T>
concept Serializable = serializable<T>();

// ------------------------------------------------------------ struct fields

template <class T>
using fields_of = decltype(lunatic_fields(std::declval<T &>()));

template <class T>
inline constexpr std::size_t field_count = std::tuple_size_v<fields_of<T>>;

/// The type of T's I-th field (without reference or const).
template <std::size_t I, class T>
using field_type = std::remove_cvref_t<std::tuple_element_t<I, fields_of<T>>>;

template <class T>
constexpr auto field_names() {
    return lunatic_field_names(static_cast<const T *>(nullptr));
}

/// Calls f(field, index) for each field of value in order (index as
/// std::integral_constant).
template <class T, class F>
void for_each_field(T &value, F &&f) {
    auto fields = lunatic_fields(value);
    if constexpr (!std::is_const_v<T>) {
        static_assert(
            []<std::size_t... I>(std::index_sequence<I...>) {
                return (std::is_lvalue_reference_v<std::tuple_element_t<I, decltype(fields)>> &&
                        ...);
            }(std::make_index_sequence<std::tuple_size_v<decltype(fields)>>{}),
            "lunatic_fields(T&) must return a tuple of references to the fields (std::tie)");
    }
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (f(std::get<I>(fields), std::integral_constant<std::size_t, I>{}), ...);
    }
    (std::make_index_sequence<std::tuple_size_v<decltype(fields)>>{});
}

// ------------------------------------------------------------ UTF-8

/// The length of the UTF-8 sequence that starts with byte b: 1-4, or 0 when
/// b cannot start one (a continuation byte, 0xC0, 0xC1, 0xF5-0xFF).
constexpr std::size_t utf8_sequence_length(unsigned char b) noexcept {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/// Checks the multi-byte sequence s[0..len) (len from utf8_sequence_length(s[0])):
/// no overlong forms, no surrogates (U+D800-U+DFFF), nothing above U+10FFFF.
constexpr bool utf8_sequence_valid(const unsigned char *s, std::size_t len) noexcept {
    unsigned char b0 = s[0], b1 = s[1];
    switch (b0) {
    case 0xE0:
        if (b1 < 0xA0 || b1 > 0xBF) return false;
        break;
    case 0xED:
        if (b1 < 0x80 || b1 > 0x9F) return false;
        break;
    case 0xF0:
        if (b1 < 0x90 || b1 > 0xBF) return false;
        break;
    case 0xF4:
        if (b1 < 0x80 || b1 > 0x8F) return false;
        break;
    default:
        if ((b1 & 0xC0) != 0x80) return false;
    }
    for (std::size_t k = 2; k < len; ++k)
        if ((s[k] & 0xC0) != 0x80) return false;
    return true;
}

/// Whether data[0..size) is well-formed UTF-8 (Unicode 15 table 3-7, as Rust's
/// str::from_utf8 checks it).
inline bool utf8_valid(const void *data, std::size_t size) noexcept {
    const auto *s = static_cast<const unsigned char *>(data);
    std::size_t i = 0;
    while (i < size) {
        if (size - i >= 8) {  // ASCII fast path
            uint64_t word;
            std::memcpy(&word, s + i, 8);
            if ((word & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        std::size_t len = utf8_sequence_length(s[i]);
        if (len == 0 || len > size - i) return false;
        if (len > 1 && !utf8_sequence_valid(s + i, len)) return false;
        i += len;
    }
    return true;
}

/// Writes c as UTF-8 to out; returns the length (1-4), or 0 if c is not a
/// Unicode scalar value (a surrogate or above U+10FFFF).
constexpr std::size_t utf8_encode(char32_t c, unsigned char out[4]) noexcept {
    uint32_t v = static_cast<uint32_t>(c);
    if (v < 0x80) {
        out[0] = static_cast<unsigned char>(v);
        return 1;
    }
    if (v < 0x800) {
        out[0] = static_cast<unsigned char>(0xC0 | (v >> 6));
        out[1] = static_cast<unsigned char>(0x80 | (v & 0x3F));
        return 2;
    }
    if (v >= 0xD800 && v <= 0xDFFF) return 0;
    if (v < 0x10000) {
        out[0] = static_cast<unsigned char>(0xE0 | (v >> 12));
        out[1] = static_cast<unsigned char>(0x80 | ((v >> 6) & 0x3F));
        out[2] = static_cast<unsigned char>(0x80 | (v & 0x3F));
        return 3;
    }
    if (v <= 0x10FFFF) {
        out[0] = static_cast<unsigned char>(0xF0 | (v >> 18));
        out[1] = static_cast<unsigned char>(0x80 | ((v >> 12) & 0x3F));
        out[2] = static_cast<unsigned char>(0x80 | ((v >> 6) & 0x3F));
        out[3] = static_cast<unsigned char>(0x80 | (v & 0x3F));
        return 4;
    }
    return 0;
}

/// The code point of the valid UTF-8 sequence s[0..len).
constexpr char32_t utf8_decode_valid(const unsigned char *s, std::size_t len) noexcept {
    switch (len) {
    case 1:
        return s[0];
    case 2:
        return static_cast<char32_t>(((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu));
    case 3:
        return static_cast<char32_t>(((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) |
                                     (s[2] & 0x3Fu));
    default:
        return static_cast<char32_t>(((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) |
                                     ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu));
    }
}

/// The one character a string holds (Json and MessagePack encode char32_t as
/// a one-character string); DeserializationError otherwise.
inline char32_t utf8_single_char(const void *data, std::size_t size, const char *who) {
    const auto *s = static_cast<const unsigned char *>(data);
    std::size_t len = size ? utf8_sequence_length(s[0]) : 0;
    if (len == 0 || len != size || (len > 1 && !utf8_sequence_valid(s, len)))
        throw DeserializationError(
            std::string(who) + ": a char32_t must be a string of exactly one Unicode scalar value");
    return utf8_decode_valid(s, len);
}

}  // namespace lunatic::detail
