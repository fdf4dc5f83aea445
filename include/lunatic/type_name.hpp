// lunatic::type_name<T>(): a stable, documented name for a message type, the
// type part of a registry key, so typed lookups agree across compilers and
// languages (typeid().name() does neither).
//
// Names follow Rust's spelling, as lunatic's do: bool, i8..i64, u8..u64, f32,
// f64, char (char32_t), String, Vec<T>, [T; N] (std::array), Option<T>,
// (A, B, ...) (pair, tuple), BTreeMap<K, V> (std::map), HashMap<K, V>
// (std::unordered_map), BTreeSet<T>, HashSet<T>, Variant<A, B, ...>,
// Process<M, S>, and for a struct declared with LUNATIC_FIELDS its fields:
// {x: i32, y: i32}. A struct can name itself instead:
//
//     LUNATIC_TYPE_NAME(Point, "geometry.Point")
//
// The registry key of a Process<M, S> is type_name<M>() + "/" + S::name,
// e.g. "i32/bincode".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
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

#include "lunatic/fwd.hpp"
#include "lunatic/serializer.hpp"

namespace lunatic {

template <class T>
std::string type_name();

namespace detail {

template <class T>
concept SelfNamed = requires {
    {lunatic_type_name(static_cast<const T *>(nullptr))};
};

template <class... Ts>
std::string type_list() {
    std::string out;
    ((out += (out.empty() ? "" : ", ") + type_name<Ts>()), ...);
    return out;
}

template <class T>
struct TypeName;

#define LUNATIC_PP_SIMPLE_NAME(T, text)           \
    template <>                                   \
    struct TypeName<T> {                          \
        static std::string get() { return text; } \
    };
LUNATIC_PP_SIMPLE_NAME(bool, "bool")
LUNATIC_PP_SIMPLE_NAME(float, "f32")
LUNATIC_PP_SIMPLE_NAME(double, "f64")
LUNATIC_PP_SIMPLE_NAME(char32_t, "char")
LUNATIC_PP_SIMPLE_NAME(std::string, "String")
LUNATIC_PP_SIMPLE_NAME(std::monostate, "()")
#undef LUNATIC_PP_SIMPLE_NAME

template <class T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool> &&
         !std::is_same_v<T, char32_t>) struct TypeName<T> {
    static std::string get() {
        return std::string(std::is_signed_v<T> ? "i" : "u") + std::to_string(sizeof(T) * 8);
    }
};
template <class T>
requires std::is_enum_v<T>
struct TypeName<T> {
    static std::string get() { return "enum " + type_name<std::underlying_type_t<T>>(); }
};
template <class T, class A>
struct TypeName<std::vector<T, A>> {
    static std::string get() { return "Vec<" + type_name<T>() + ">"; }
};
template <class T, std::size_t N>
struct TypeName<std::array<T, N>> {
    static std::string get() { return "[" + type_name<T>() + "; " + std::to_string(N) + "]"; }
};
template <class T>
struct TypeName<std::optional<T>> {
    static std::string get() { return "Option<" + type_name<T>() + ">"; }
};
template <class A, class B>
struct TypeName<std::pair<A, B>> {
    static std::string get() { return "(" + type_list<A, B>() + ")"; }
};
template <class... Ts>
struct TypeName<std::tuple<Ts...>> {
    static std::string get() { return "(" + type_list<Ts...>() + ")"; }
};
template <class K, class V, class C, class A>
struct TypeName<std::map<K, V, C, A>> {
    static std::string get() { return "BTreeMap<" + type_list<K, V>() + ">"; }
};
template <class K, class V, class H, class E, class A>
struct TypeName<std::unordered_map<K, V, H, E, A>> {
    static std::string get() { return "HashMap<" + type_list<K, V>() + ">"; }
};
template <class T, class C, class A>
struct TypeName<std::set<T, C, A>> {
    static std::string get() { return "BTreeSet<" + type_name<T>() + ">"; }
};
template <class T, class H, class E, class A>
struct TypeName<std::unordered_set<T, H, E, A>> {
    static std::string get() { return "HashSet<" + type_name<T>() + ">"; }
};
template <class... Ts>
struct TypeName<std::variant<Ts...>> {
    static std::string get() { return "Variant<" + type_list<Ts...>() + ">"; }
};
template <class M, class S>
struct TypeName<Process<M, S>> {
    static std::string get() {
        return "Process<" + type_name<M>() + ", " + std::string(S::name) + ">";
    }
};

template <class T>
std::string struct_name() {
    T *none = nullptr;
    auto names = lunatic_field_names(static_cast<const T *>(none));
    using Fields = decltype(lunatic_fields(std::declval<T &>()));
    std::string out = "{";
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((out += (I ? ", " : "") + std::string(names[I]) + ": " +
                 type_name<std::remove_cvref_t<std::tuple_element_t<I, Fields>>>()),
         ...);
    }
    (std::make_index_sequence<std::tuple_size_v<Fields>>());
    return out + "}";
}

}  // namespace detail

template <class T>
std::string type_name() {
    using U = std::remove_cvref_t<T>;
    if constexpr (detail::SelfNamed<U>)
        return lunatic_type_name(static_cast<const U *>(nullptr));
    else if constexpr (requires { detail::TypeName<U>::get(); })
        return detail::TypeName<U>::get();
    else if constexpr (Reflected<U>)
        return detail::struct_name<U>();
    else
        static_assert(Reflected<U>,
                      "no stable name for this type: declare its fields with LUNATIC_FIELDS "
                      "or name it with LUNATIC_TYPE_NAME");
}

/// The type part of the registry key of a Process<M, S>.
template <class M, class S>
std::string registry_type() {
    return type_name<M>() + "/" + std::string(S::name);
}

}  // namespace lunatic

/// Gives a struct a name of its own for registry keys (instead of its fields).
#define LUNATIC_TYPE_NAME(Type, text) \
    inline const char *lunatic_type_name(const Type *) { return text; }
