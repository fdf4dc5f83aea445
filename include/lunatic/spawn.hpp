// Spawning typed processes: lunatic::spawn and Process<M, S>::spawn.
//
// An entry is a function or a capture-less lambda `R entry(C capture, Mailbox<M, S>)`
// or `R entry(C capture, Protocol<P, S>)` with R void or int. The kind of
// process comes from the entry's second parameter: a Mailbox<M, S> makes a
// Process<M, S>; a Protocol<P, S> gives the spawner the other end of a new
// session, Protocol<Dual<P>, S>. The capture is encoded with S in the parent
// and decoded in the child: processes share no memory.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "lunatic/detail/codec.hpp"
#include "lunatic/error.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/mailbox.hpp"
#include "lunatic/process.hpp"
#include "lunatic/process_config.hpp"
#include "lunatic/protocol.hpp"

namespace lunatic {

namespace detail {

// What an entry looks like: R (*)(A, B).
template <class F>
struct entry_signature {
    static constexpr bool valid = false;
};
template <class R, class A, class B>
struct entry_signature<R (*)(A, B)> {
    static constexpr bool valid = true;
    using result = R;
    using capture = std::remove_cvref_t<A>;
    using second = std::remove_cvref_t<B>;
    using pointer = R (*)(A, B);
};

// A function or capture-less lambda decays to a function pointer with unary +.
template <class F>
concept DecaysToFunctionPointer = requires(F f) {
    {+f};
    requires std::is_pointer_v<decltype(+f)>;
    requires std::is_function_v<std::remove_pointer_t<decltype(+f)>>;
};

template <class F>
struct entry_traits : entry_signature<void> {};
template <DecaysToFunctionPointer F>
struct entry_traits<F> : entry_signature<decltype(+std::declval<F>())> {};

// Runs the body of a typed entry: exceptions become failures, and so does a
// protocol dropped before End (lunatic/protocol.hpp) in an entry that returned 0.
template <class Body>
int run_entry(Body &&body) {
    try {
        int code = body();
        if (code == 0) {
            if (const std::string *dropped = session::dropped()) {
                lunatic_fail(dropped->c_str());
                return 1;
            }
        }
        return code;
    } catch (const Killed &) {
        return 1;  // the runtime already knows it was killed
    } catch (const std::exception &e) {
        lunatic_fail(e.what());
        return 1;
    } catch (...) {
        lunatic_fail("unknown exception");
        return 1;
    }
}

// Runs a typed entry inside the new process (the C entry the runtime calls).
template <class Pointer, class C, class Second, class S>
int typed_entry(const uint8_t *capture_bytes, std::size_t capture_len, void *user) {
    auto entry = reinterpret_cast<Pointer>(user);
    return run_entry([&]() -> int {
        C capture{};
        decode_payload<S>(capture_bytes, capture_len, capture);
        if constexpr (std::is_same_v<decltype(entry(std::move(capture), Second{})), int>) {
            return entry(std::move(capture), Second{});
        } else {
            entry(std::move(capture), Second{});
            return 0;
        }
    });
}

// Runs a protocol entry inside the new process: the capture bytes are a
// ProtocolCapture<C> (the spawner, the session tag and the user's capture).
template <class Pointer, class C, class P, class S>
int protocol_entry(const uint8_t *capture_bytes, std::size_t capture_len, void *user) {
    auto entry = reinterpret_cast<Pointer>(user);
    return run_entry([&]() -> int {
        ProtocolCapture<C> received{};
        decode_payload<S>(capture_bytes, capture_len, received);
        int code = 0;
        {
            // Destroyed before run_entry looks for drops: an entry that took the
            // protocol as Protocol&& and left it unfinished dropped it here.
            Protocol<P, S> protocol =
                session::ProtocolAccess::make<P, S>(received.process.raw(), received.tag);
            if constexpr (std::is_same_v<decltype(entry(std::move(received.capture),
                                                        std::move(protocol))),
                                         int>)
                code = entry(std::move(received.capture), std::move(protocol));
            else
                entry(std::move(received.capture), std::move(protocol));
        }
        return code;
    });
}

template <class F>
constexpr void check_entry() {
    static_assert(
        entry_traits<F>::valid,
        "a lunatic entry must be a plain function or a capture-less lambda taking "
        "(capture, lunatic::Mailbox<M, S>) or (capture, lunatic::Protocol<P, S>): lambdas that "
        "capture cannot run in another process — pass what they need as the capture");
}

/// What a typed spawn asks for besides its entry: a link (or none) and a config (or the spawner's).
struct LinkRequest {
    bool link = false;
    Tag tag;
    const lunatic_config *config = nullptr;
};

/// The one place where a typed spawn's options are made.
inline lunatic_spawn_options spawn_options(const LinkRequest &link) {
    lunatic_spawn_options options;
    lunatic_spawn_options_init(&options);
    if (link.link) {
        options.flags |= LUNATIC_SPAWN_LINK;
        options.link_tag = link.tag.id();
    }
    options.config = link.config;
    return options;
}

/// Spawns c_entry with the encoded capture and the user's entry as user pointer.
template <class Pointer>
lunatic_pid spawn_encoded(lunatic_entry c_entry, const MessagePtr &bytes, Pointer fn,
                          const LinkRequest &link) {
    lunatic_spawn_options options = spawn_options(link);
    lunatic_pid pid{};
    check(lunatic_spawn(c_entry, lunatic_message_data(bytes.get()),
                        lunatic_message_size(bytes.get()), reinterpret_cast<void *>(fn), &options,
                        &pid));
    return pid;
}

/// Spawns a mailbox process with entry, returning its pid.
template <class S, class C, class F>
lunatic_pid spawn_mailbox(const C &capture, F entry, LinkRequest link = {}) {
    using T = entry_traits<F>;
    using Capture = typename T::capture;
    static_assert(std::is_convertible_v<const C &, Capture>,
                  "the capture given to spawn does not convert to the entry's first parameter");
    typename T::pointer fn = +entry;
    Capture converted = capture;
    MessagePtr bytes(encode_message<S>(Tag::none(), converted));
    return spawn_encoded(&typed_entry<typename T::pointer, Capture, typename T::second, S>, bytes,
                         fn, link);
}

/// Spawns a process running entry(capture, Protocol<P, S>) with the caller as
/// its peer, on a fresh session tag; returns the caller's end, Protocol<Dual<P>, S>.
template <class P, class S, class C, class F>
Protocol<Dual<P>, S> spawn_protocol(const C &capture, F entry, LinkRequest link = {}) {
    using T = entry_traits<F>;
    using Capture = typename T::capture;
    static_assert(std::is_convertible_v<const C &, Capture>,
                  "the capture given to spawn does not convert to the entry's first parameter");
    static_assert(
        std::is_invocable_v<typename T::pointer, Capture &&, Protocol<P, S> &&>,
        "a protocol entry takes its lunatic::Protocol<P, S> by value (or as Protocol<P, S>&&)");
    typename T::pointer fn = +entry;
    lunatic_pid self{};
    check(lunatic_self(&self));
    Tag tag = Tag::fresh();
    ProtocolCapture<Capture> sent{Process<std::monostate>(self), tag.id(), capture};
    MessagePtr bytes(encode_message<S>(Tag::none(), sent));
    lunatic_pid child =
        spawn_encoded(&protocol_entry<typename T::pointer, Capture, P, S>, bytes, fn, link);
    return session::ProtocolAccess::make<Dual<P>, S>(child, tag.id());
}

}  // namespace detail

template <class M, class S>
template <class C, class F>
Process<M, S> Process<M, S>::spawn(const C &capture, F entry) {
    detail::check_entry<F>();
    using Second = typename detail::entry_traits<F>::second;
    static_assert(
        std::is_same_v<Second, Mailbox<M, S>>,
        "Process<M, S>::spawn needs an entry whose second parameter is lunatic::Mailbox<M, S>");
    return Process<M, S>(detail::spawn_mailbox<S>(capture, entry));
}

template <class M, class S>
template <class C, class F>
Process<M, S> Process<M, S>::spawn_link(const C &capture, F entry) {
    return spawn_link_tag(Tag::none(), capture, entry);
}

template <class M, class S>
template <class C, class F>
Process<M, S> Process<M, S>::spawn_link_tag(Tag tag, const C &capture, F entry) {
    detail::check_entry<F>();
    using Second = typename detail::entry_traits<F>::second;
    static_assert(std::is_same_v<Second, Mailbox<M, S>>,
                  "Process<M, S>::spawn_link needs an entry whose second parameter is "
                  "lunatic::Mailbox<M, S>");
    return Process<M, S>(detail::spawn_mailbox<S>(capture, entry, {true, tag}));
}

namespace detail {
template <class T>
struct is_protocol : std::false_type {};
template <class P, class S>
struct is_protocol<Protocol<P, S>> : std::true_type {};

// What lunatic::spawn… return, by the entry's second parameter. (spawn_config
// will pass its config through here too, inside the request.)
template <class C, class F>
auto spawn_kind(const C &capture, F entry, LinkRequest link) {
    check_entry<F>();
    using Second = typename entry_traits<F>::second;
    if constexpr (is_mailbox<Second>::value) {
        using M = typename Second::message_type;
        using S = typename Second::serializer_type;
        return Process<M, S>(spawn_mailbox<S>(capture, entry, link));
    } else if constexpr (is_protocol<Second>::value) {
        using P = typename Second::protocol_type;
        using S = typename Second::serializer_type;
        return spawn_protocol<P, S>(capture, entry, link);
    } else {
        static_assert(is_mailbox<Second>::value,
                      "the entry's second parameter must be a lunatic::Mailbox<M, S> or a "
                      "lunatic::Protocol<P, S>");
    }
}
}  // namespace detail

/// Spawns entry(capture, mailbox-or-protocol); the returned handle's type follows from
/// the entry's second parameter: Mailbox<M, S> gives Process<M, S>, Protocol<P, S>
/// gives the spawner's end of the session, Protocol<Dual<P>, S>.
template <class C, class F>
auto spawn(const C &capture, F entry) {
    return detail::spawn_kind(capture, entry, {});
}

/// spawn, linked to the caller before the child runs.
template <class C, class F>
auto spawn_link(const C &capture, F entry) {
    return detail::spawn_kind(capture, entry, {true, Tag::none()});
}

/// spawn_link with a tag that the link's LinkDied signals carry.
template <class C, class F>
auto spawn_link_tag(Tag tag, const C &capture, F entry) {
    return detail::spawn_kind(capture, entry, {true, tag});
}

/// spawn under config's limits and permissions (instead of the spawner's).
template <class C, class F>
auto spawn_config(const ProcessConfig &config, const C &capture, F entry) {
    return detail::spawn_kind(capture, entry, {false, Tag::none(), config.raw()});
}

/// spawn_config, linked to the caller before the child runs.
template <class C, class F>
auto spawn_link_config(const ProcessConfig &config, const C &capture, F entry) {
    return detail::spawn_kind(capture, entry, {true, Tag::none(), config.raw()});
}

}  // namespace lunatic
