// Nodes in the typed layer: spawning a typed entry on another node, and
// looking a typed name up there. Sends, links, monitors and kill need nothing
// new: a Process<M, S> of another node works through the C ABI as a local one.
//
// An entry crosses nodes by name. lunatic::spawn_node<entry>(node, capture)
// names it after the function (LUNATIC_ENTRY_NAME below) and registers it in
// every program that contains such a call, before main runs — so two nodes
// running the same program know the same entries. A program that only
// receives spawns (and never calls spawn_node<entry> itself) registers
// entries with LUNATIC_NODE_ENTRY(entry).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lunatic/lunatic.h"
#include "lunatic/process_config.hpp"
#include "lunatic/spawn.hpp"

namespace lunatic {

namespace detail {

// The function's name as the compiler spells it in a template argument
// ("my_entry", "ns::my_entry"): stable across runs and processes of one program.
template <auto Fn>
std::string node_entry_name() {
    std::string_view f = __PRETTY_FUNCTION__;
    const std::string_view key = "Fn = ";
    std::size_t at = f.find(key);
    std::string_view name = at == std::string_view::npos ? f : f.substr(at + key.size());
    name = name.substr(0, name.find_first_of(";]"));
    if (!name.empty() && name.front() == '&') name.remove_prefix(1);
    return "cpp:" + std::string(name);
}

// The C entry of a typed entry spawned by name: the function is a template
// argument, since no pointer can travel to another node.
template <auto Fn, class S>
int node_typed_entry(const uint8_t *capture, std::size_t len, void *) {
    using T = entry_traits<decltype(Fn)>;
    return typed_entry<typename T::pointer, typename T::capture, typename T::second, S>(
        capture, len, reinterpret_cast<void *>(+Fn));
}

template <auto Fn>
struct NodeEntry {
    using T = entry_traits<decltype(Fn)>;
    using Second = typename T::second;
    using S = typename Second::serializer_type;

    static const std::string &name() {
        static const std::string n = node_entry_name<Fn>();
        return n;
    }
    static bool add() {
        lunatic_entry_register(name().c_str(), &node_typed_entry<Fn, S>);
        return true;
    }
    // Instantiated by every spawn_node<Fn>: its initializer runs before main
    // in each program that contains the call, on every node alike.
    static inline const bool registered = add();
};

}  // namespace detail

/// Registers entry for spawns from other nodes (for a program that never calls
/// spawn_node<entry> itself). At namespace scope.
#define LUNATIC_NODE_ENTRY(entry)                                                              \
    [[maybe_unused]] static const bool LUNATIC_NODE_ENTRY_CAT(lunatic_node_entry_, __LINE__) = \
        ::lunatic::detail::NodeEntry<entry>::registered
#define LUNATIC_NODE_ENTRY_CAT(a, b) LUNATIC_NODE_ENTRY_CAT2(a, b)
#define LUNATIC_NODE_ENTRY_CAT2(a, b) a##b

/// The name entry is registered under for other nodes.
template <auto Entry>
const std::string &node_entry_name() {
    return detail::NodeEntry<Entry>::name();
}

/// Spawns entry(capture, Mailbox<M, S>) on another node (a Process<M, S> of it
/// comes back); entry is a plain function with a Mailbox second parameter.
/// lunatic::Error with LUNATIC_ENOTFOUND if that node's program lacks the
/// entry, LUNATIC_ENONODE if the node is not connected.
template <auto Entry, class C>
auto spawn_node(uint64_t node, const C &capture, const ProcessConfig *config = nullptr,
                bool link = false, Tag link_tag = Tag::none()) {
    using N = detail::NodeEntry<Entry>;
    using T = typename N::T;
    using Second = typename N::Second;
    using S = typename N::S;
    static_assert(T::valid, "spawn_node needs a plain function (or a constexpr function pointer)");
    static_assert(
        std::is_convertible_v<const C &, typename T::capture>,
        "the capture given to spawn_node does not convert to the entry's first parameter");
    (void)N::registered;
    typename T::capture converted = capture;
    detail::MessagePtr bytes(detail::encode_message<S>(Tag::none(), converted));
    lunatic_spawn_options options;
    lunatic_spawn_options_init(&options);
    if (link) {
        options.flags |= LUNATIC_SPAWN_LINK;
        options.link_tag = link_tag.id();
    }
    options.config = config ? config->raw() : nullptr;
    lunatic_pid pid{};
    detail::check(lunatic_spawn_node(node, N::name().c_str(), lunatic_message_data(bytes.get()),
                                     lunatic_message_size(bytes.get()), &options, &pid));
    return Process<typename Second::message_type, S>(pid);
}

/// spawn_node with a config (lunatic's spawn_node_config).
template <auto Entry, class C>
auto spawn_node_config(uint64_t node, const ProcessConfig &config, const C &capture) {
    return spawn_node<Entry>(node, capture, &config);
}

/// Process<M, S>::lookup on another node: the process registered there as name
/// with the same M and S, if any.
template <class M, class S = Bincode>
std::optional<Process<M, S>> lookup_node(uint64_t node, const std::string &name) {
    lunatic_pid pid{};
    int code = lunatic_lookup_node(node, name.c_str(), registry_type<M, S>().c_str(), &pid);
    if (code == LUNATIC_ENOTFOUND) return std::nullopt;
    detail::check(code);
    return Process<M, S>(pid);
}

}  // namespace lunatic
