// Spawning typed processes: lunatic::spawn and Process<M, S>::spawn.
//
// An entry is a function or a capture-less lambda `R entry(C capture, Mailbox<M, S>)`
// with R void or int. The kind of process comes from the entry's second
// parameter: a Mailbox<M, S> makes a Process<M, S>. The capture is encoded
// with S in the parent and decoded in the child: processes share no memory.
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
    { +f };
    requires std::is_pointer_v<decltype(+f)>;
    requires std::is_function_v<std::remove_pointer_t<decltype(+f)>>;
};

template <class F>
struct entry_traits : entry_signature<void> {};
template <DecaysToFunctionPointer F>
struct entry_traits<F> : entry_signature<decltype(+std::declval<F>())> {};

// Runs a typed entry inside the new process (the C entry the runtime calls).
template <class Pointer, class C, class Second, class S>
int typed_entry(const uint8_t *capture_bytes, std::size_t capture_len, void *user) {
    auto entry = reinterpret_cast<Pointer>(user);
    try {
        C capture{};
        decode_payload<S>(capture_bytes, capture_len, capture);
        if constexpr (std::is_same_v<decltype(entry(std::move(capture), Second{})), int>) {
            return entry(std::move(capture), Second{});
        } else {
            entry(std::move(capture), Second{});
            return 0;
        }
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

template <class F>
constexpr void check_entry() {
    static_assert(entry_traits<F>::valid,
                  "a lunatic entry must be a plain function or a capture-less lambda taking "
                  "(capture, lunatic::Mailbox<M, S>): lambdas that capture cannot run in another "
                  "process — pass what they need as the capture");
}

/// Spawn options for a link (or none).
struct LinkRequest {
    bool link = false;
    Tag tag;
};

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
    lunatic_spawn_options options;
    lunatic_spawn_options_init(&options);
    if (link.link) {
        options.flags |= LUNATIC_SPAWN_LINK;
        options.link_tag = link.tag.id();
    }
    lunatic_pid pid{};
    check(lunatic_spawn(&typed_entry<typename T::pointer, Capture, typename T::second, S>,
                        lunatic_message_data(bytes.get()), lunatic_message_size(bytes.get()),
                        reinterpret_cast<void *>(fn), &options, &pid));
    return pid;
}

}  // namespace detail

template <class M, class S>
template <class C, class F>
Process<M, S> Process<M, S>::spawn(const C &capture, F entry) {
    detail::check_entry<F>();
    using Second = typename detail::entry_traits<F>::second;
    static_assert(std::is_same_v<Second, Mailbox<M, S>>,
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
                  "Process<M, S>::spawn_link needs an entry whose second parameter is lunatic::Mailbox<M, S>");
    return Process<M, S>(detail::spawn_mailbox<S>(capture, entry, {true, tag}));
}

namespace detail {
template <class C, class F>
auto spawn_kind(const C &capture, F entry, LinkRequest link) {
    check_entry<F>();
    using Second = typename entry_traits<F>::second;
    if constexpr (is_mailbox<Second>::value) {
        using M = typename Second::message_type;
        using S = typename Second::serializer_type;
        return Process<M, S>(spawn_mailbox<S>(capture, entry, link));
    } else {
        static_assert(is_mailbox<Second>::value, "the entry's second parameter must be a lunatic::Mailbox<M, S>");
    }
}
}  // namespace detail

/// Spawns entry(capture, mailbox-or-protocol); the returned handle's type follows from
/// the entry's second parameter (Mailbox<M, S> gives Process<M, S>).
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

}  // namespace lunatic
