// lunatic::AbstractProcess: servers (lunatic's AbstractProcess, Erlang's
// gen_server) and lunatic::ProcessRef<T>, the typed handle to one.
//
// A server is a type T that holds its state and declares what it handles:
//
//     struct Add { int32_t n; };          LUNATIC_FIELDS(Add, n)
//     struct Get {};                      LUNATIC_FIELDS(Get)
//
//     struct Counter : lunatic::AbstractProcess<Counter> {
//         using Arg = int32_t;                                    // what start(arg) takes
//         using Handlers = lunatic::Handlers<lunatic::MessageHandler<Add>,
//                                            lunatic::RequestHandler<Get>>;
//         int32_t count = 0;
//
//         static Counter init(lunatic::Config<Counter> &, int32_t start) { ... }  // or a
//         constructor Counter(Arg) void handle(Add add) { count += add.n; }                // a
//         message: no reply int32_t handle(Get) { return count; }                   // a request:
//         the reply
//     };
//
//     lunatic::ProcessRef<Counter> counter = Counter::start(10);
//     counter.send(Add{5});
//     int32_t now = counter.request(Get{});                        // 15
//     counter.shutdown();
//
// Members of T (all but Handlers optional):
//   using Arg = A;             start's argument (std::monostate when absent); crosses into the
//                              server encoded with Serializer
//   using Serializer = S;      for arguments, messages and replies (lunatic::Bincode when absent)
//   using Handlers = lunatic::Handlers<...>;  MessageHandler<M>: void handle(M)
//                              RequestHandler<R>: X handle(R), X is the reply
//                              DeferredRequestHandler<R, X>: void handle(R,
//                              lunatic::DeferredResponse<X, S>) — answer later with
//                              send_response(x), from this server or from any process the
//                              DeferredResponse is sent to
//   static T init(lunatic::Config<T> &, Arg)  or  static T init(Arg)  or a constructor T(Arg):
//                              builds the state inside the new process; an exception here
//                              makes start throw lunatic::StartFailed with its text
//   void terminate()           called by shutdown() before the server ends
//   void handle_link_death(lunatic::Tag)   a linked process failed, after
//                              config.die_if_link_dies(false) in init (default: the server dies
//                              too); or handle_link_death(Tag, lunatic_pid, ExitReason)
//   void handle_process_died(lunatic::Tag, lunatic_pid, lunatic::ExitReason)
//                              a process this server monitors ended
//
// ProcessRef<T>::send(m) and request(r) compile only for types T handles (a
// static_assert names the missing handler): lunatic found this out at run
// time. An exception escaping a handler fails the server (as in Erlang): its
// links and monitors hear it, and requests waiting on it get ServerDied.
//
// Starting: T::start(arg); T::start_as(name, arg), an atomic get-or-start
// (the T registered as name, else a new one registered before its init: of
// racing starters one starts it and all get it); T::start_as_new(name, arg),
// which throws lunatic::NameTaken (carrying the holder) instead of returning
// an existing server. Builders T::link(), T::link_with(tag),
// T::configure(config), T::on_node(node_id) chain and end with the same three
// calls: Counter::on_node(id).link().start_as("counter", 0). Startup errors
// come back to the starter (StartFailed: init failed or the server died in it;
// NameTaken; for on_node also lunatic::Error with LUNATIC_ENOTFOUND when that
// node's program lacks T, LUNATIC_ENONODE when it is not connected); a starter
// never waits for a server that died.
//
// Servers on other nodes: on_node spawns T there by a stable entry name that
// every program starting a T registers before main (LUNATIC_SERVER_ENTRY(T)
// in a program that only receives). A ProcessRef<T> of another node works as
// a local one for send, request, shutdown, with_timeout, with_delay, link,
// kill; a request or shutdown to a server whose node is lost ends with
// ServerDied / ExitReason::noconnection. is_alive() knows only this runtime's
// processes (false for another node's).
//
// Wire format of a server's mailbox (docs/wire-format.md, "Servers"): every
// message is a data message with tag 0 whose payload starts with a raw
// header — byte 0 the kind (0 message, 1 request, 2 shutdown), byte 1 the
// handler's index in Handlers (0 for shutdown), and for a request the reply
// address, node u64 LE, id u64 LE, tag i64 LE — followed by the message or
// request encoded with Serializer (nothing for shutdown). A reply is one
// value encoded with Serializer, in a data message with the reply tag.
#pragma once

#include <cxxabi.h>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>

#include "lunatic/detail/codec.hpp"
#include "lunatic/error.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/mailbox.hpp"
#include "lunatic/process.hpp"
#include "lunatic/process_config.hpp"
#include "lunatic/request.hpp"
#include "lunatic/spawn.hpp"
#include "lunatic/tag.hpp"
#include "lunatic/timer.hpp"
#include "lunatic/type_name.hpp"

namespace lunatic {

// ------------------------------------------------------------ handler declarations

/// T handles messages of type M: void handle(M).
template <class M>
struct MessageHandler {};
/// T answers requests of type R: Reply handle(R).
template <class R>
struct RequestHandler {};
/// T answers requests of type R later: void handle(R, DeferredResponse<Reply, S>).
template <class R, class Reply>
struct DeferredRequestHandler {};
/// The list of what a server handles (at most 255 entries).
template <class... H>
struct Handlers {};

template <class T>
class ProcessRef;
template <class T>
class StartBuilder;
template <class T>
class Config;
template <class T>
class TimedRef;
template <class T>
class DelayedRef;

namespace detail {

template <class T>
struct server_serializer {
    using type = Bincode;
};
template <class T>
requires requires { typename T::Serializer; }
struct server_serializer<T> {
    using type = typename T::Serializer;
};
template <class T>
struct server_arg {
    using type = std::monostate;
};
template <class T>
requires requires { typename T::Arg; }
struct server_arg<T> {
    using type = typename T::Arg;
};

template <class H>
struct handler_info {
    static_assert(sizeof(H) == 0,
                  "lunatic::Handlers<...> takes MessageHandler<M>, RequestHandler<R> and "
                  "DeferredRequestHandler<R, Reply> entries only");
};
template <class M>
struct handler_info<MessageHandler<M>> {
    static constexpr bool is_request = false;
    static constexpr bool deferred = false;
    using type = M;
};
template <class R>
struct handler_info<RequestHandler<R>> {
    static constexpr bool is_request = true;
    static constexpr bool deferred = false;
    using type = R;
};
template <class R, class Reply>
struct handler_info<DeferredRequestHandler<R, Reply>> {
    static constexpr bool is_request = true;
    static constexpr bool deferred = true;
    using type = R;
    using reply = Reply;
};

template <class L>
struct handler_list;
template <class... H>
struct handler_list<Handlers<H...>> {
    static constexpr std::size_t size = sizeof...(H);
    template <std::size_t I>
    using at = std::tuple_element_t<I, std::tuple<H...>>;

    // The index of the handler of the given kind for a value of type M: the
    // handler of exactly that type, else the only one M converts to; -1 if
    // none, -2 if M converts to several.
    template <bool Request, class M>
    static constexpr int find() {
        using U = std::remove_cvref_t<M>;
        constexpr std::array<bool, sizeof...(H) + 1> exact{
            (handler_info<H>::is_request == Request &&
             std::is_same_v<U, typename handler_info<H>::type>)...,
            false};
        constexpr std::array<bool, sizeof...(H) + 1> converts{
            (handler_info<H>::is_request == Request &&
             std::is_convertible_v<const M &, typename handler_info<H>::type>)...,
            false};
        for (std::size_t i = 0; i < sizeof...(H); ++i)
            if (exact[i]) return static_cast<int>(i);
        int found = -1;
        for (std::size_t i = 0; i < sizeof...(H); ++i) {
            if (!converts[i]) continue;
            if (found >= 0) return -2;
            found = static_cast<int>(i);
        }
        return found;
    }
};

template <class T>
concept HasHandlers = requires {
    typename T::Handlers;
};

template <class T>
using handlers_of = handler_list<typename T::Handlers>;

template <class T, std::size_t I>
using handler_at = handler_info<typename handlers_of<T>::template at<I>>;

// What request handler I replies with.
template <class T, std::size_t I, class Info = handler_at<T, I>>
struct reply_of {
    using type = std::remove_cvref_t<decltype(std::declval<T &>().handle(
        std::declval<typename Info::type>()))>;
};
template <class T, std::size_t I, class Info>
requires Info::deferred struct reply_of<T, I, Info> {
    using type = typename Info::reply;
};

template <class T>
inline constexpr bool always_false = false;

// ---- the envelope

enum class ServerKind : uint8_t { message = 0, request = 1, shutdown = 2 };
inline constexpr std::size_t kEnvelopeHeader = 2;
inline constexpr std::size_t kRequestHeader = 2 + 24;

inline void put_u64(uint8_t *out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint64_t get_u64(const uint8_t *in) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(in[i]) << (8 * i);
    return v;
}

/// A server message: the header, then body encoded with S (none for shutdown).
template <class S, class M>
lunatic_message *encode_envelope(ServerKind kind, uint8_t index, const M *body,
                                 lunatic_pid reply_pid = {}, Tag reply_tag = Tag::none()) {
    lunatic_message *message = nullptr;
    check(lunatic_message_new(0, 64, &message));
    MessagePtr owned(message);
    uint8_t header[kRequestHeader];
    header[0] = static_cast<uint8_t>(kind);
    header[1] = index;
    std::size_t n = kEnvelopeHeader;
    if (kind == ServerKind::request) {
        put_u64(header + 2, reply_pid.node);
        put_u64(header + 10, reply_pid.id);
        put_u64(header + 18, static_cast<uint64_t>(reply_tag.id()));
        n = kRequestHeader;
    }
    check(lunatic_message_append(message, header, n));
    if (body) {
        Writer out(message);
        S::encode(out, *body);
    }
    return owned.release();
}

/// Sends shutdown to a server and waits up to timeout_ns for it to end.
inline ExitReason shutdown_server(lunatic_pid server, int64_t timeout_ns) {
    PendingReply pending(server);
    const std::monostate *none = nullptr;
    MessagePtr message(encode_envelope<Bincode>(ServerKind::shutdown, 0, none));
    int code = lunatic_send(server, message.get());
    if (code == LUNATIC_ENOPROC) return ExitReason::noproc;
    check(code);
    message.release();
    return pending.wait_death(timeout_ns);
}

// ---- names

/// The name of a server type in registry keys: LUNATIC_TYPE_NAME(T, "...")
/// if given (do so for servers other languages look up), else the C++ name.
template <class T>
std::string server_type_name() {
    if constexpr (SelfNamed<T>) {
        return lunatic_type_name(static_cast<const T *>(nullptr));
    } else {
        int status = 0;
        char *demangled = abi::__cxa_demangle(typeid(T).name(), nullptr, nullptr, &status);
        std::string name = status == 0 && demangled ? demangled : typeid(T).name();
        std::free(demangled);
        return name;
    }
}

/// The registry key's type part for ProcessRef<T>: "ProcessRef<Name>/bincode".
template <class T>
std::string server_registry_type() {
    return "ProcessRef<" + server_type_name<T>() + ">/" +
           std::string(server_serializer<T>::type::name);
}

/// Registers self as name, or finds who holds it; true if registered.
inline bool register_or_find(const std::string &name, const std::string &type, lunatic_pid self,
                             lunatic_pid *holder) {
    for (;;) {
        int code = lunatic_register(name.c_str(), type.c_str(), self);
        if (code == LUNATIC_OK) return true;
        if (code != LUNATIC_EEXIST) throw_status(code);
        code = lunatic_lookup(name.c_str(), type.c_str(), holder);
        if (code == LUNATIC_OK) return false;
        if (code != LUNATIC_ENOTFOUND) throw_status(code);
        // The holder ended between the two calls: the name is free again.
    }
}

// ---- startup

enum class StartStatus : uint8_t { ok = 0, init_failed = 1, name_taken = 2 };

template <class T>
using ServerCapture = std::tuple<Process<std::monostate>, int64_t, std::optional<std::string>,
                                 typename server_arg<T>::type>;
// What the new server tells its starter: status, text (init's error), holder of the name.
using StartReply = std::tuple<uint8_t, std::string, Process<std::monostate>>;

template <class T, class A>
T make_state(Config<T> &config, A &&arg);

template <class T>
int serve(T &state);

template <class T>
int server_entry(const uint8_t *capture_bytes, std::size_t capture_len, void *) {
    using S = typename server_serializer<T>::type;
    return run_entry([&]() -> int {
        ServerCapture<T> capture{};
        decode_payload<S>(capture_bytes, capture_len, capture);
        const lunatic_pid starter = std::get<0>(capture).raw();
        const Tag init_tag(std::get<1>(capture));
        const std::optional<std::string> &name = std::get<2>(capture);
        auto &arg = std::get<3>(capture);
        lunatic_pid self = self_pid();
        auto report = [&](StartStatus status, const std::string &text, lunatic_pid holder) {
            StartReply reply{static_cast<uint8_t>(status), text, Process<std::monostate>(holder)};
            MessagePtr m(encode_message<S>(init_tag, reply));
            if (lunatic_send(starter, m.get()) == LUNATIC_OK) m.release();
        };
        std::string type;
        if (name) {
            type = server_registry_type<T>();
            lunatic_pid holder{};
            if (!register_or_find(*name, type, self, &holder)) {
                report(StartStatus::name_taken, "", holder);
                return 0;
            }
        }
        std::optional<T> state;
        try {
            Config<T> config(self);
            state.emplace(make_state<T>(config, std::move(arg)));
        } catch (const Killed &) {
            throw;
        } catch (const std::exception &e) {
            if (name) lunatic_unregister(name->c_str(), type.c_str());
            report(StartStatus::init_failed, e.what(), {});
            return 0;  // a normal end: a linked starter is told by the reply, not killed
        } catch (...) {
            if (name) lunatic_unregister(name->c_str(), type.c_str());
            report(StartStatus::init_failed, "unknown exception", {});
            return 0;
        }
        report(StartStatus::ok, "", {});
        return serve<T>(*state);
    });
}

// ---- servers started from other nodes

/// The name T's server entry is registered under for spawns from other nodes:
/// "cpp:server:" + the registry type ("cpp:server:ProcessRef<Counter>/bincode").
template <class T>
const std::string &server_node_entry_name() {
    static const std::string name = "cpp:server:" + server_registry_type<T>();
    return name;
}

/// Registers T's server entry by its stable name (lunatic_entry_register). Its
/// initializer runs before main in every program that starts a T (start_server
/// odr-uses it), so nodes running the same program know each other's servers.
template <class T>
struct ServerNodeEntry {
    static bool add() {
        lunatic_entry_register(server_node_entry_name<T>().c_str(), &server_entry<T>);
        return true;
    }
    static inline const bool registered = add();
};

/// Where and how a server starts: a link, a config, a node (0: this one).
struct StartOptions {
    LinkRequest link;
    uint64_t node = 0;
};

/// Looks name up as a T server here or on node; the holder if any.
template <class T>
std::optional<lunatic_pid> lookup_server(const std::string &name, uint64_t node) {
    lunatic_pid pid{};
    const std::string type = server_registry_type<T>();
    int code = node == 0 ? lunatic_lookup(name.c_str(), type.c_str(), &pid)
                         : lunatic_lookup_node(node, name.c_str(), type.c_str(), &pid);
    if (code == LUNATIC_ENOTFOUND) return std::nullopt;
    check(code);
    return pid;
}

/// Spawns a T (here or on options.node) and waits for its init; the ref or
/// StartFailed / NameTaken. With a name and !strict, a name held by a T is no
/// error: that server is the result (get-or-start).
template <class T>
ProcessRef<T> start_server(const std::optional<std::string> &name,
                           const typename server_arg<T>::type &arg, const StartOptions &options,
                           bool strict) {
    using S = typename server_serializer<T>::type;
    (void)ServerNodeEntry<T>::registered;
    if (name && !strict) {
        // The common case of get-or-start, without a spawn; the spawned
        // server's own register-or-find below settles races.
        if (auto holder = lookup_server<T>(*name, options.node)) return ProcessRef<T>(*holder);
    }
    Tag init_tag = Tag::fresh();
    ServerCapture<T> capture{Process<std::monostate>(self_pid()), init_tag.id(), name, arg};
    MessagePtr bytes(encode_message<S>(Tag::none(), capture));
    lunatic_spawn_options spawn = spawn_options(options.link);
    lunatic_pid pid{};
    if (options.node == 0) {
        check(lunatic_spawn(&server_entry<T>, lunatic_message_data(bytes.get()),
                            lunatic_message_size(bytes.get()), nullptr, &spawn, &pid));
    } else {
        // ENOTFOUND: that node's program has no such server type; ENONODE: not connected.
        check(lunatic_spawn_node(options.node, server_node_entry_name<T>().c_str(),
                                 lunatic_message_data(bytes.get()),
                                 lunatic_message_size(bytes.get()), &spawn, &pid));
    }
    // The monitor (with the init tag) turns a server that dies during init
    // (or a node lost meanwhile) into an error instead of a wait forever, as
    // for any request.
    PendingReply pending(pid, init_tag);
    MessagePtr reply_message;
    try {
        reply_message = pending.wait(LUNATIC_INFINITE);
    } catch (const ServerDied &e) {
        throw StartFailed("the server ended during init (" + e.reason_text() + ")");
    }
    auto [status, text, holder] = decode_reply<StartReply, S>(reply_message);
    switch (static_cast<StartStatus>(status)) {
    case StartStatus::ok:
        return ProcessRef<T>(pid);
    case StartStatus::name_taken:
        if (!strict) return ProcessRef<T>(holder.raw());
        throw NameTaken(name.value_or(""), holder.raw());
    default:
        throw StartFailed("init failed: " + text);
    }
}

}  // namespace detail

// ------------------------------------------------------------ Config

/// What init gets besides its argument.
template <class T>
class Config {
public:
    explicit Config(lunatic_pid self) noexcept : self_(self) {}
    /// The server being started (to hand out, or to send to itself).
    ProcessRef<T> self_ref() const noexcept { return ProcessRef<T>(self_); }
    /// false: a failing linked process becomes a call to handle_link_death(tag)
    /// instead of failing this server too (the default, lunatic's and Erlang's).
    void die_if_link_dies(bool die) { detail::check(lunatic_trap_links(die ? 0 : 1)); }

private:
    lunatic_pid self_;
};

// ------------------------------------------------------------ ProcessRef

/// A typed handle to a running server of type T: a 16-byte value {node_id,
/// id} like Process (copy, compare, hash, print, send it inside messages).
template <class T>
class ProcessRef {
public:
    using server_type = T;

    constexpr ProcessRef() noexcept = default;
    constexpr explicit ProcessRef(lunatic_pid pid) noexcept : node_id_(pid.node), id_(pid.id) {}

    constexpr uint64_t id() const noexcept { return id_; }
    constexpr uint64_t node_id() const noexcept { return node_id_; }
    constexpr lunatic_pid raw() const noexcept { return lunatic_pid{node_id_, id_}; }

    /// Sends a message to a MessageHandler<M> of T; false when the server is gone
    /// (for a server on another node: only a lost connection is known here,
    /// lunatic::Error LUNATIC_ENONODE; a message to one that ended is dropped
    /// there, as in Erlang).
    template <class M>
    bool send(const M &message) const {
        constexpr int index = handlers<>::template find<false, M>();
        static_assert(index != -1,
                      "ProcessRef<T>::send: T does not handle this message type (add "
                      "lunatic::MessageHandler<M> to T::Handlers and a member void handle(M))");
        static_assert(index != -2,
                      "ProcessRef<T>::send: the message converts to several of T's message types");
        if constexpr (index >= 0) {
            detail::MessagePtr m(encode<index>(detail::ServerKind::message, message));
            return deliver(std::move(m));
        } else {
            return false;
        }
    }

    /// Sends a request to a RequestHandler<R> or DeferredRequestHandler<R, X>
    /// of T and waits for the reply (no time limit, but ServerDied if the
    /// server ends first; with_timeout(d).request(r) or request(r, d) to give up).
    template <class R>
    auto request(const R &request) const {
        return request_ns(request, LUNATIC_INFINITE);
    }
    template <class R, class Rep, class Period>
    auto request(const R &request, std::chrono::duration<Rep, Period> timeout) const {
        return request_ns(request, detail::to_timeout_ns(timeout));
    }

    /// lunatic's with_timeout: ref.with_timeout(d).request(r) / .shutdown().
    template <class Rep, class Period>
    TimedRef<T> with_timeout(std::chrono::duration<Rep, Period> timeout) const {
        return TimedRef<T>(*this, detail::to_timeout_ns(timeout));
    }

    /// lunatic's with_delay: ref.with_delay(d).send(m) sends m after d (a TimerRef to cancel it).
    template <class Rep, class Period>
    DelayedRef<T> with_delay(std::chrono::duration<Rep, Period> delay) const {
        int64_t ns = detail::to_timeout_ns(delay);
        return DelayedRef<T>(*this, ns == LUNATIC_INFINITE ? INT64_MAX : ns);
    }

    /// Asks the server to stop: it handles what was queued before, calls
    /// terminate(), and ends. Waits until it has ended (TimeoutError after
    /// timeout); returns how it ended (noproc if it was gone already).
    ExitReason shutdown() const { return detail::shutdown_server(raw(), LUNATIC_INFINITE); }
    template <class Rep, class Period>
    ExitReason shutdown(std::chrono::duration<Rep, Period> timeout) const {
        return detail::shutdown_server(raw(), detail::to_timeout_ns(timeout));
    }

    // ---- relations (as for Process)
    void link(Tag tag = Tag::none()) const { detail::check(lunatic_link(raw(), tag.id())); }
    void link_with(Tag tag) const { link(tag); }
    void unlink() const { detail::check(lunatic_unlink(raw())); }
    bool kill() const {
        int code = lunatic_kill(raw());
        if (code == LUNATIC_ENOPROC) return false;
        detail::check(code);
        return true;
    }
    /// A live process of this runtime (false for a server on another node:
    /// monitor it, or send a request, to learn about it).
    bool is_alive() const { return lunatic_process_alive(raw()) == 1; }

    // ---- registry, keyed by the server type and serializer ("ProcessRef<Counter>/bincode")
    void register_name(const std::string &name) const {
        detail::check(
            lunatic_register(name.c_str(), detail::server_registry_type<T>().c_str(), raw()));
    }
    static bool unregister_name(const std::string &name) {
        int code = lunatic_unregister(name.c_str(), detail::server_registry_type<T>().c_str());
        if (code == LUNATIC_ENOTFOUND) return false;
        detail::check(code);
        return true;
    }
    static std::optional<ProcessRef> lookup(const std::string &name) {
        if (auto pid = detail::lookup_server<T>(name, 0)) return ProcessRef(*pid);
        return std::nullopt;
    }
    /// lookup in the registry of another node (connected; LUNATIC_ENONODE otherwise).
    static std::optional<ProcessRef> lookup_node(uint64_t node_id, const std::string &name) {
        if (auto pid = detail::lookup_server<T>(name, node_id)) return ProcessRef(*pid);
        return std::nullopt;
    }

    friend constexpr bool operator==(const ProcessRef &, const ProcessRef &) noexcept = default;
    friend std::ostream &operator<<(std::ostream &os, const ProcessRef &p) {
        return os << Process<int>(p.raw());
    }
    friend auto lunatic_fields(ProcessRef &p) { return std::tie(p.node_id_, p.id_); }
    friend auto lunatic_fields(const ProcessRef &p) { return std::tie(p.node_id_, p.id_); }
    friend constexpr auto lunatic_field_names(const ProcessRef *) {
        return std::array<const char *, 2>{"node_id", "id"};
    }

private:
    friend class TimedRef<T>;
    friend class DelayedRef<T>;
    // Aliases evaluated where used, not when ProcessRef<T> is instantiated:
    // T may hold a ProcessRef<T> member while it is still incomplete.
    template <class U = T>
    using handlers = detail::handlers_of<U>;
    template <class U = T>
    using serializer = typename detail::server_serializer<U>::type;

    template <int Index, class M>
    detail::MessagePtr encode(detail::ServerKind kind, const M &value, lunatic_pid reply_pid = {},
                              Tag reply_tag = Tag::none()) const {
        using Body = typename detail::handler_at<T, Index>::type;
        if constexpr (std::is_same_v<std::remove_cvref_t<M>, Body>) {
            return detail::MessagePtr(detail::encode_envelope<serializer<>>(
                kind, static_cast<uint8_t>(Index), &value, reply_pid, reply_tag));
        } else {
            const Body converted = value;
            return detail::MessagePtr(detail::encode_envelope<serializer<>>(
                kind, static_cast<uint8_t>(Index), &converted, reply_pid, reply_tag));
        }
    }

    bool deliver(detail::MessagePtr m) const {
        int code = lunatic_send(raw(), m.get());
        if (code == LUNATIC_OK) {
            m.release();
            return true;
        }
        if (code == LUNATIC_ENOPROC) return false;
        detail::throw_status(code);
    }

    template <class R>
    auto request_ns(const R &request, int64_t timeout_ns) const {
        constexpr int index = handlers<>::template find<true, R>();
        static_assert(index != -1,
                      "ProcessRef<T>::request: T does not answer this request type (add "
                      "lunatic::RequestHandler<R> to T::Handlers and a member Reply handle(R))");
        static_assert(
            index != -2,
            "ProcessRef<T>::request: the request converts to several of T's request types");
        if constexpr (index >= 0) {
            using Reply = typename detail::reply_of<T, index>::type;
            detail::PendingReply pending(raw());
            detail::send_request(raw(), encode<index>(detail::ServerKind::request, request,
                                                      detail::self_pid(), pending.tag()));
            return detail::decode_reply<Reply, serializer<>>(pending.wait(timeout_ns));
        }
    }

    uint64_t node_id_ = 0;
    uint64_t id_ = 0;
};

/// ref.with_timeout(d): requests and shutdown that give up after d.
template <class T>
class TimedRef {
public:
    TimedRef(ProcessRef<T> ref, int64_t timeout_ns) noexcept : ref_(ref), ns_(timeout_ns) {}
    template <class R>
    auto request(const R &request) const {
        return ref_.request_ns(request, ns_);
    }
    ExitReason shutdown() const { return detail::shutdown_server(ref_.raw(), ns_); }

private:
    ProcessRef<T> ref_;
    int64_t ns_;
};

/// ref.with_delay(d): messages sent after d.
template <class T>
class DelayedRef {
public:
    DelayedRef(ProcessRef<T> ref, int64_t delay_ns) noexcept : ref_(ref), ns_(delay_ns) {}
    /// Sends message after the delay; the TimerRef cancels it.
    template <class M>
    TimerRef send(const M &message) const {
        constexpr int index = ProcessRef<T>::template handlers<>::template find<false, M>();
        static_assert(index >= 0,
                      "ProcessRef<T>::with_delay(d).send: T does not handle this message type (or "
                      "it converts "
                      "to several of T's message types)");
        if constexpr (index >= 0) {
            detail::MessagePtr m(ref_.template encode<index>(detail::ServerKind::message, message));
            lunatic_timer timer{};
            detail::check(lunatic_send_after(ref_.raw(), m.get(), ns_, &timer));
            m.release();
            return TimerRef(timer);
        } else {
            return TimerRef();
        }
    }

private:
    ProcessRef<T> ref_;
    int64_t ns_;
};

// ------------------------------------------------------------ starting

/// How a server starts: linked or not, with a config or the starter's, here
/// or on another node. Each call returns a new builder; start / start_as /
/// start_as_new end the chain.
template <class T>
class StartBuilder {
public:
    using Arg = typename detail::server_arg<T>::type;

    /// Linked to the starter before init runs.
    StartBuilder link() const { return link_with(Tag::none()); }
    /// Linked, with a tag the link's LinkDied signals carry.
    StartBuilder link_with(Tag tag) const {
        StartBuilder b = *this;
        b.options_.link.link = true;
        b.options_.link.tag = tag;
        return b;
    }
    /// Under config's limits and permissions (it must outlive the start call;
    /// on another node its values are sent along).
    StartBuilder configure(const ProcessConfig &config) const {
        StartBuilder b = *this;
        b.options_.link.config = config.raw();
        return b;
    }
    StartBuilder configure_raw(const lunatic_config *config) const {
        StartBuilder b = *this;
        b.options_.link.config = config;
        return b;
    }
    /// On the node with node_id (connected with lunatic_node_connect; this
    /// node's own id starts it here). The server is spawned there by its
    /// entry's stable name, "cpp:server:ProcessRef<Name>/serializer", which
    /// every program that starts a T registers before main — so the receiving
    /// node must run a program that contains T too (the same binary, in
    /// practice); one that never starts a T itself says LUNATIC_SERVER_ENTRY(T).
    /// The argument crosses encoded with T's Serializer; a name given to
    /// start_as is registered in that node's registry. Errors: lunatic::Error
    /// with LUNATIC_ENOTFOUND when that node's program lacks T's entry,
    /// LUNATIC_ENONODE when the node is not connected; StartFailed when init
    /// fails or the node is lost during it.
    StartBuilder on_node(uint64_t node_id) const {
        StartBuilder b = *this;
        b.options_.node = node_id;
        return b;
    }

    /// Starts the server; returns once init succeeded, else throws StartFailed.
    ProcessRef<T> start(const Arg &arg = Arg{}) const {
        return detail::start_server<T>(std::nullopt, arg, options_, false);
    }
    /// Get-or-start under name: the server of type T registered as name if
    /// there is one (nothing starts, and the link and config of this builder
    /// do not apply to it), else a new one, registered as name before its init
    /// runs. Atomic: of several racing starters, one starts the server and all
    /// get it — one init runs. A server found this way may still be in its
    /// init; if that fails, requests to it get ServerDied. A failed init frees
    /// the name (StartFailed). Names are typed (the registry's rule): a process
    /// of another type, or a server of another type, under the same name is
    /// another key and does not stop a T from starting there.
    ProcessRef<T> start_as(const std::string &name, const Arg &arg = Arg{}) const {
        return detail::start_server<T>(name, arg, options_, false);
    }
    /// start_as that insists on a new server: if a live T holds name, throws
    /// NameTaken (carrying that server's pid) and nothing starts.
    ProcessRef<T> start_as_new(const std::string &name, const Arg &arg = Arg{}) const {
        return detail::start_server<T>(name, arg, options_, true);
    }

private:
    detail::StartOptions options_;
};

/// Base class of a server type T (CRTP): gives T::start, T::start_as and the
/// builders. T itself is the server's state.
template <class T>
class AbstractProcess {
public:
    static StartBuilder<T> link() { return StartBuilder<T>().link(); }
    static StartBuilder<T> link_with(Tag tag) { return StartBuilder<T>().link_with(tag); }
    static StartBuilder<T> configure(const ProcessConfig &config) {
        return StartBuilder<T>().configure(config);
    }
    static StartBuilder<T> on_node(uint64_t node_id) { return StartBuilder<T>().on_node(node_id); }

    // Variadic so that nothing about T (still incomplete here) is looked at
    // before a call: start() or start(arg).
    template <class... A>
    static ProcessRef<T> start(const A &...arg) {
        return StartBuilder<T>().start(arg...);
    }
    template <class... A>
    static ProcessRef<T> start_as(const std::string &name, const A &...arg) {
        return StartBuilder<T>().start_as(name, arg...);
    }
    template <class... A>
    static ProcessRef<T> start_as_new(const std::string &name, const A &...arg) {
        return StartBuilder<T>().start_as_new(name, arg...);
    }
};

/// Registers server type T's entry for starts from other nodes, in a program
/// that never starts a T itself (one that does registers it already). At
/// namespace scope.
#define LUNATIC_SERVER_ENTRY(T)                                                                    \
    [[maybe_unused]] static const bool LUNATIC_SERVER_ENTRY_CAT(lunatic_server_entry_, __LINE__) = \
        ::lunatic::detail::ServerNodeEntry<T>::registered
#define LUNATIC_SERVER_ENTRY_CAT(a, b) LUNATIC_SERVER_ENTRY_CAT2(a, b)
#define LUNATIC_SERVER_ENTRY_CAT2(a, b) a##b

// ------------------------------------------------------------ the server loop

namespace detail {

template <class T, class A>
T make_state(Config<T> &config, A &&arg) {
    if constexpr (requires { T::init(config, std::move(arg)); })
        return T::init(config, std::move(arg));
    else if constexpr (requires { T::init(std::move(arg)); })
        return T::init(std::move(arg));
    else if constexpr (std::is_constructible_v<T, A &&>)
        return T(std::move(arg));
    else if constexpr (std::is_same_v<std::remove_cvref_t<A>, std::monostate> &&
                       std::is_default_constructible_v<T>)
        return T();
    else
        static_assert(
            always_false<T>,
            "a server needs static T init(lunatic::Config<T>&, Arg), static T init(Arg) or a "
            "constructor T(Arg)");
}

struct Envelope {
    ServerKind kind;
    lunatic_pid reply_pid{};
    Tag reply_tag;
    const uint8_t *body = nullptr;
    std::size_t body_size = 0;
};

// Handler I of T on one envelope. A body that does not decode is dropped
// (a request with one then gets no reply: its caller times out).
template <class T, std::size_t I>
void dispatch_one(T &state, const Envelope &e) {
    using Info = handler_at<T, I>;
    using S = typename server_serializer<T>::type;
    using Body = typename Info::type;
    if ((e.kind == ServerKind::request) != Info::is_request) return;
    Body body{};
    try {
        decode_payload<S>(e.body, e.body_size, body);
    } catch (const DeserializationError &) {
        return;
    }
    if constexpr (!Info::is_request) {
        static_assert(
            requires { state.handle(std::move(body)); },
            "T lists lunatic::MessageHandler<M> in Handlers but has no member handle(M)");
        state.handle(std::move(body));
    } else if constexpr (Info::deferred) {
        using Reply = typename Info::reply;
        DeferredResponse<Reply, S> response(e.reply_pid, e.reply_tag);
        static_assert(
            requires { state.handle(std::move(body), response); },
            "T lists lunatic::DeferredRequestHandler<R, Reply> in Handlers but has no member "
            "handle(R, lunatic::DeferredResponse<Reply, S>)");
        state.handle(std::move(body), std::move(response));
    } else {
        static_assert(
            requires { state.handle(std::move(body)); },
            "T lists lunatic::RequestHandler<R> in Handlers but has no member Reply handle(R)");
        using Reply = typename reply_of<T, I>::type;
        static_assert(!std::is_void_v<Reply>,
                      "a request handler returns its reply: use MessageHandler for handlers that "
                      "return nothing");
        DeferredResponse<Reply, S>(e.reply_pid, e.reply_tag).send(state.handle(std::move(body)));
    }
}

template <class T>
int serve(T &state) {
    static_assert(HasHandlers<T>, "a server type declares using Handlers = lunatic::Handlers<...>");
    constexpr std::size_t count = handlers_of<T>::size;
    static_assert(count <= 255, "a server has at most 255 handlers");
    using Fn = void (*)(T &, const Envelope &);
    static constexpr auto table = []<std::size_t... I>(std::index_sequence<I...>) {
        return std::array<Fn, sizeof...(I)>{&dispatch_one<T, I>...};
    }
    (std::make_index_sequence<count>{});

    for (;;) {
        MessagePtr m = receive_raw(LUNATIC_RECEIVE_ALL, {}, LUNATIC_INFINITE);
        lunatic_message_kind kind = lunatic_message_kind_of(m.get());
        if (kind != LUNATIC_MESSAGE_DATA) {
            lunatic_pid pid{};
            lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
            lunatic_message_signal(m.get(), &pid, &reason);
            Tag tag(lunatic_message_tag(m.get()));
            if (kind == LUNATIC_MESSAGE_LINK_DIED) {
                if constexpr (requires {
                                  state.handle_link_death(tag, pid,
                                                          static_cast<ExitReason>(reason));
                              })
                    state.handle_link_death(tag, pid, static_cast<ExitReason>(reason));
                else if constexpr (requires { state.handle_link_death(tag); })
                    state.handle_link_death(tag);
            } else if constexpr (requires {
                                     state.handle_process_died(tag, pid,
                                                               static_cast<ExitReason>(reason));
                                 }) {
                state.handle_process_died(tag, pid, static_cast<ExitReason>(reason));
            }
            continue;
        }
        const uint8_t *data = lunatic_message_data(m.get());
        std::size_t size = lunatic_message_size(m.get());
        if (size < kEnvelopeHeader) continue;  // not a server message: dropped
        Envelope e;
        e.kind = static_cast<ServerKind>(data[0]);
        std::size_t header = kEnvelopeHeader;
        if (e.kind == ServerKind::shutdown) {
            if constexpr (requires { state.terminate(); }) state.terminate();
            return 0;
        }
        if (e.kind == ServerKind::request) {
            if (size < kRequestHeader) continue;
            e.reply_pid = lunatic_pid{get_u64(data + 2), get_u64(data + 10)};
            e.reply_tag = Tag(static_cast<int64_t>(get_u64(data + 18)));
            header = kRequestHeader;
        } else if (e.kind != ServerKind::message) {
            continue;
        }
        std::size_t index = data[1];
        if (index >= count) continue;
        e.body = data + header;
        e.body_size = size - header;
        table[index](state, e);
    }
}

}  // namespace detail
}  // namespace lunatic

template <class T>
struct std::hash<lunatic::ProcessRef<T>> {
    std::size_t operator()(const lunatic::ProcessRef<T> &p) const noexcept {
        return std::hash<uint64_t>()(p.id() * 0x9e3779b97f4a7c15ULL ^ p.node_id());
    }
};
