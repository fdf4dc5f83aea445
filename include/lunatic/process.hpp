// lunatic::Process<M, S>: a handle to a process that receives messages of type
// M encoded with serializer S.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>

#include "lunatic/detail/codec.hpp"
#include "lunatic/error.hpp"
#include "lunatic/fwd.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/tag.hpp"
#include "lunatic/timer.hpp"
#include "lunatic/type_name.hpp"

namespace lunatic {

/// A process handle: a 16-byte value {node_id, id}. Copy it, compare it, hash
/// it, print it, and send it inside messages (every serializer encodes it as
/// the two-field struct {node_id, id}).
template <class M, class S>
class Process {
public:
    using message_type = M;
    using serializer_type = S;

    /// A handle to no process (node 0, id 0).
    constexpr Process() noexcept = default;
    constexpr explicit Process(lunatic_pid pid) noexcept : node_id_(pid.node), id_(pid.id) {}
    constexpr Process(uint64_t node_id, uint64_t id) noexcept : node_id_(node_id), id_(id) {}

    constexpr uint64_t id() const noexcept { return id_; }
    constexpr uint64_t node_id() const noexcept { return node_id_; }
    constexpr lunatic_pid raw() const noexcept { return lunatic_pid{node_id_, id_}; }

    /// Sends m. Returns false when the process no longer exists (the message is
    /// dropped, as lunatic and Erlang do); throws lunatic::Killed if the caller
    /// was killed and lunatic::Error for other failures.
    bool send(const M &m) const { return tag_send(Tag::none(), m); }

    /// Sends m labelled with tag, for a tag_receive on the other side.
    bool tag_send(Tag tag, const M &m) const {
        lunatic_message *message = detail::encode_message<S>(tag, m);
        int code = lunatic_send(raw(), message);
        if (code == LUNATIC_OK) return true;
        lunatic_message_free(message);
        if (code == LUNATIC_ENOPROC) return false;
        detail::throw_status(code);
    }

    /// Sends m after delay (the timer belongs to this node: see lunatic_send_after).
    template <class Rep, class Period>
    TimerRef send_after(const M &m, std::chrono::duration<Rep, Period> delay) const {
        return tag_send_after(Tag::none(), m, delay);
    }
    template <class Rep, class Period>
    TimerRef tag_send_after(Tag tag, const M &m, std::chrono::duration<Rep, Period> delay) const {
        lunatic_message *message = detail::encode_message<S>(tag, m);
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
        lunatic_timer timer{};
        int code = lunatic_send_after(raw(), message, ns < 0 ? 0 : ns, &timer);
        if (code != LUNATIC_OK) {
            lunatic_message_free(message);
            detail::throw_status(code);
        }
        return TimerRef(timer);
    }

    // ---- relations (see lunatic.h for the semantics)

    /// Links the calling process and this one: when either fails, the other
    /// fails too, unless it catches link failures (Mailbox::catch_link_failure).
    void link(Tag tag = Tag::none()) const { detail::check(lunatic_link(raw(), tag.id())); }
    void unlink() const { detail::check(lunatic_unlink(raw())); }
    /// Kills the process (it unwinds at its next runtime call); false if it was gone.
    bool kill() const {
        int code = lunatic_kill(raw());
        if (code == LUNATIC_ENOPROC) return false;
        detail::check(code);
        return true;
    }
    bool is_alive() const { return lunatic_process_alive(raw()) == 1; }

    // ---- registry: names typed by M and S (registry_type<M, S>(), e.g. "i32/bincode")

    /// Registers this process as name; lunatic::Error (LUNATIC_EEXIST) if the name is taken.
    void register_name(const std::string &name) const {
        detail::check(lunatic_register(name.c_str(), registry_type<M, S>().c_str(), raw()));
    }
    /// Frees name; false if it was not registered with this M and S.
    static bool unregister_name(const std::string &name) {
        int code = lunatic_unregister(name.c_str(), registry_type<M, S>().c_str());
        if (code == LUNATIC_ENOTFOUND) return false;
        detail::check(code);
        return true;
    }
    /// The process registered as name with the same M and S, if any.
    static std::optional<Process> lookup(const std::string &name) {
        lunatic_pid pid{};
        int code = lunatic_lookup(name.c_str(), registry_type<M, S>().c_str(), &pid);
        if (code == LUNATIC_ENOTFOUND) return std::nullopt;
        detail::check(code);
        return Process(pid);
    }

    // ---- spawning (defined in lunatic/spawn.hpp)

    /// Spawns a process running entry(capture, Mailbox<M, S>); entry is a
    /// function or a capture-less lambda; capture travels encoded with S.
    template <class C, class F>
    static Process spawn(const C &capture, F entry);
    /// The same, linked to the caller before it runs.
    template <class C, class F>
    static Process spawn_link(const C &capture, F entry);
    /// The same, linked with a tag (the LinkDied signals of this link carry it).
    template <class C, class F>
    static Process spawn_link_tag(Tag tag, const C &capture, F entry);

    friend constexpr bool operator==(const Process &, const Process &) noexcept = default;

    friend std::ostream &operator<<(std::ostream &os, const Process &p) {
        auto flags = os.flags();
        os << "<" << std::hex << p.node_id_ << std::dec << "." << p.id_ << ">";
        os.flags(flags);
        return os;
    }

    // The fields every serializer sees.
    friend auto lunatic_fields(Process &p) { return std::tie(p.node_id_, p.id_); }
    friend auto lunatic_fields(const Process &p) { return std::tie(p.node_id_, p.id_); }
    friend constexpr auto lunatic_field_names(const Process *) {
        return std::array<const char *, 2>{"node_id", "id"};
    }

private:
    uint64_t node_id_ = 0;
    uint64_t id_ = 0;
};

}  // namespace lunatic

template <class M, class S>
struct std::hash<lunatic::Process<M, S>> {
    std::size_t operator()(const lunatic::Process<M, S> &p) const noexcept {
        return std::hash<uint64_t>()(p.id() * 0x9e3779b97f4a7c15ULL ^ p.node_id());
    }
};
