// lunatic::Mailbox<M, S>: the calling process's own mailbox, read as messages
// of type M encoded with S.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "lunatic/detail/codec.hpp"
#include "lunatic/error.hpp"
#include "lunatic/fwd.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/mailbox_result.hpp"
#include "lunatic/process.hpp"
#include "lunatic/tag.hpp"

namespace lunatic {

namespace detail {

template <class T>
struct is_mailbox : std::false_type {};
template <class M, class S>
struct is_mailbox<Mailbox<M, S>> : std::true_type {};
template <class T>
inline constexpr bool is_mailbox_v = is_mailbox<T>::value;

struct MessageDeleter {
    void operator()(lunatic_message *m) const noexcept { lunatic_message_free(m); }
};
using MessagePtr = std::unique_ptr<lunatic_message, MessageDeleter>;

template <class Rep, class Period>
int64_t to_timeout_ns(std::chrono::duration<Rep, Period> d) {
    using namespace std::chrono;
    if (d <= d.zero()) return 0;
    // Saturate instead of overflowing: a year or more is "forever" in practice.
    if (d >= duration_cast<duration<Rep, Period>>(hours(24 * 365 * 100))) return LUNATIC_INFINITE;
    return duration_cast<nanoseconds>(d).count();
}

/// lunatic_receive_mask as a MessagePtr; Killed / Error on failure, nullptr on timeout.
inline MessagePtr receive_raw(uint32_t mask, std::span<const Tag> tags, int64_t timeout_ns) {
    lunatic_message *m = nullptr;
    int code;
    if (tags.empty()) {
        code = lunatic_receive_mask(mask, nullptr, 0, timeout_ns, &m);
    } else {
        std::vector<lunatic_tag> ids(tags.size());
        for (std::size_t i = 0; i < tags.size(); ++i) ids[i] = tags[i].id();
        code = lunatic_receive_mask(mask, ids.data(), ids.size(), timeout_ns, &m);
    }
    if (code == LUNATIC_ETIMEDOUT) return nullptr;
    check(code);
    return MessagePtr(m);
}

}  // namespace detail

/// A typed view of the calling process's mailbox (lunatic's zero-sized
/// marker). Make one inside any process or attached thread; it is the same
/// mailbox however many views there are.
template <class M, class S>
class Mailbox {
public:
    using message_type = M;
    using serializer_type = S;

    /// Throws lunatic::Error (LUNATIC_ESTATE) outside a process.
    Mailbox() {
        lunatic_pid self;
        detail::check(lunatic_self(&self));
    }

    /// Waits for the next message. Throws DeserializationError if it is not an M
    /// (the message is consumed; use receive_timeout for a result instead).
    /// Signals are not taken here: the MailboxResult forms below take them.
    M receive() { return std::move(next({}, LUNATIC_INFINITE, LUNATIC_RECEIVE_DATA)).value(); }

    /// Waits for the next message or signal (LinkDied, ProcessDied), as a result.
    MailboxResult<M> receive_result() { return next({}, LUNATIC_INFINITE); }

    template <class Rep, class Period>
    MailboxResult<M> receive_timeout(std::chrono::duration<Rep, Period> timeout) {
        return next({}, detail::to_timeout_ns(timeout));
    }

    /// Waits for the next message carrying one of tags; the others stay queued in order.
    M tag_receive(std::initializer_list<Tag> tags) {
        return std::move(next(std::span<const Tag>(tags.begin(), tags.size()), LUNATIC_INFINITE,
                              LUNATIC_RECEIVE_DATA))
            .value();
    }
    M tag_receive(std::span<const Tag> tags) {
        return std::move(next(tags, LUNATIC_INFINITE, LUNATIC_RECEIVE_DATA)).value();
    }

    template <class Rep, class Period>
    MailboxResult<M> tag_receive_timeout(std::initializer_list<Tag> tags,
                                         std::chrono::duration<Rep, Period> timeout) {
        return next(std::span<const Tag>(tags.begin(), tags.size()),
                    detail::to_timeout_ns(timeout));
    }
    template <class Rep, class Period>
    MailboxResult<M> tag_receive_timeout(std::span<const Tag> tags,
                                         std::chrono::duration<Rep, Period> timeout) {
        return next(tags, detail::to_timeout_ns(timeout));
    }

    /// The timed and polling forms also return signals (LinkDied while catching
    /// link failures, ProcessDied from monitors), before data messages.

    /// A message if one is already queued, else a timed-out result; never waits.
    MailboxResult<M> try_receive() { return next({}, 0); }

    /// The handle other processes use to send to this mailbox.
    Process<M, S> this_process() const {
        lunatic_pid self;
        detail::check(lunatic_self(&self));
        return Process<M, S>(self);
    }

    // ---- relations

    /// From now on, a failing linked process sends this one a LinkDied signal
    /// instead of killing it (lunatic's catch_link_failure).
    Mailbox &catch_link_failure() {
        detail::check(lunatic_trap_links(1));
        return *this;
    }
    /// Receive one ProcessDied signal when p ends (at once if it is already gone).
    template <class PM, class PS>
    void monitor(const Process<PM, PS> &p) {
        detail::check(lunatic_monitor(p.raw()));
    }
    template <class PM, class PS>
    void demonitor(const Process<PM, PS> &p) {
        detail::check(lunatic_demonitor(p.raw()));
    }

    /// Number of messages waiting.
    std::size_t size() const {
        std::size_t n = 0;
        detail::check(lunatic_mailbox_size(&n));
        return n;
    }

private:
    MailboxResult<M> next(std::span<const Tag> tags, int64_t timeout_ns,
                          uint32_t mask = LUNATIC_RECEIVE_ALL) {
        detail::MessagePtr m = detail::receive_raw(mask, tags, timeout_ns);
        if (!m) return MailboxResult<M>::timed_out();
        Tag tag(lunatic_message_tag(m.get()));
        const uint8_t *data = lunatic_message_data(m.get());
        std::size_t size = lunatic_message_size(m.get());
        lunatic_message_kind kind = lunatic_message_kind_of(m.get());
        if (kind != LUNATIC_MESSAGE_DATA) {
            lunatic_pid pid{};
            lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
            lunatic_message_signal(m.get(), &pid, &reason);
            return MailboxResult<M>::signal(
                kind == LUNATIC_MESSAGE_LINK_DIED ? MailboxResult<M>::Kind::link_died
                                                  : MailboxResult<M>::Kind::process_died,
                tag, pid, static_cast<ExitReason>(reason),
                std::string(reinterpret_cast<const char *>(data), size));
        }
        M value{};
        try {
            detail::decode_payload<S>(data, size, value);
        } catch (const DeserializationError &e) {
            return MailboxResult<M>::deserialization_failed(
                tag, e.what(), std::vector<uint8_t>(data, data + size));
        }
        return MailboxResult<M>::message(tag, std::move(value));
    }
};

}  // namespace lunatic
