// Request/reply between processes: lunatic::request, lunatic::Request<T, R, S>
// and lunatic::ReplyTo<R, S> (alias DeferredResponse).
//
// A plain process can serve requests: its mailbox takes Request<T, R, S>
// messages (a T and where to send the R), and it answers with reply():
//
//     auto doubler = lunatic::spawn(0, [](int, lunatic::Mailbox<lunatic::Request<int, int>>
//     mailbox) {
//         for (;;) {
//             auto request = mailbox.receive();
//             request.reply(request.body * 2);
//         }
//     });
//     int four = lunatic::request(doubler, 2, std::chrono::seconds(1));
//
// lunatic::request(server, body, timeout) returns the reply, or throws:
//  - lunatic::ServerDied when the server ends before it replies, or was gone
//    already: the caller monitors the server for the duration of the request
//    (as Erlang's gen_server:call does; lunatic's requests did not), so a dead
//    server is a prompt error, not a hang;
//  - lunatic::TimeoutError when no reply came in time. A reply that arrives
//    after the caller gave up is dropped by the runtime (lunatic_tag_discard):
//    it never shows up later as a foreign message in the caller's mailbox;
//  - lunatic::DeserializationError when the reply is not an R.
// Each request waits on a fresh tag (its reply carries it), so replies are
// never confused and a process can have requests to several servers
// outstanding (e.g. from several processes it spawned). A request takes one
// reply: a second reply to one that was answered (a DeferredResponse used
// twice) is queued like any data message.
//
// Wire format: a Request<T, R, S> is the struct {body: T, reply_to: {process:
// {node_id: u64, id: u64}, tag: i64}} encoded with S; the reply is one R
// encoded with S, in a data message carrying reply_to.tag. Servers made with
// lunatic::AbstractProcess use their own envelope (docs/wire-format.md).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>

#include "lunatic/detail/codec.hpp"
#include "lunatic/error.hpp"
#include "lunatic/fwd.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/mailbox.hpp"
#include "lunatic/process.hpp"
#include "lunatic/tag.hpp"

namespace lunatic {

/// Where a reply goes: the requesting process and the tag it waits on.
/// Serializable, so it can be handed to another process that answers in the
/// server's place (lunatic's DeferredResponse).
template <class R, class S = Bincode>
class ReplyTo {
public:
    using response_type = R;

    ReplyTo() = default;
    ReplyTo(lunatic_pid process, Tag tag) noexcept : process_(process), tag_(tag.id()) {}

    /// Sends the reply; false when the requester is gone. A reply to a
    /// requester that gave up (timed out) is dropped on arrival.
    bool send(const R &response) const { return process_.tag_send(Tag(tag_), response); }
    /// lunatic's name for send.
    bool send_response(const R &response) const { return send(response); }

    Process<R, S> process() const noexcept { return process_; }
    Tag tag() const noexcept { return Tag(tag_); }

    friend bool operator==(const ReplyTo &, const ReplyTo &) noexcept = default;

    friend auto lunatic_fields(ReplyTo &r) { return std::tie(r.process_, r.tag_); }
    friend auto lunatic_fields(const ReplyTo &r) { return std::tie(r.process_, r.tag_); }
    friend constexpr auto lunatic_field_names(const ReplyTo *) {
        return std::array<const char *, 2>{"process", "tag"};
    }

private:
    Process<R, S> process_;
    int64_t tag_ = 0;
};

/// A deferred response: a server's handler keeps it (or hands it to another
/// process) and answers later with send_response().
template <class R, class S = Bincode>
using DeferredResponse = ReplyTo<R, S>;

/// The message of a plain process that serves requests: a T, and where to
/// send the R that answers it.
template <class T, class R, class S = Bincode>
struct Request {
    using body_type = T;
    using response_type = R;

    T body{};
    ReplyTo<R, S> reply_to;

    /// Answers the request; false when the requester is gone.
    bool reply(const R &response) const { return reply_to.send(response); }

    friend auto lunatic_fields(Request &r) { return std::tie(r.body, r.reply_to); }
    friend auto lunatic_fields(const Request &r) { return std::tie(r.body, r.reply_to); }
    friend constexpr auto lunatic_field_names(const Request *) {
        return std::array<const char *, 2>{"body", "reply_to"};
    }
};

namespace detail {

/// The wait of one request: monitors the server with the reply tag from
/// construction to destruction, and on destruction drops whatever is still
/// queued or still to come with that tag (a late reply, the server's death
/// signal when the reply came first). So a request leaves nothing behind in
/// the caller's mailbox however it ends — reply, death, timeout, exception.
class PendingReply {
public:
    explicit PendingReply(lunatic_pid server, Tag tag = Tag::fresh()) : server_(server), tag_(tag) {
        check(lunatic_monitor_tag(server_, tag_.id()));
    }
    ~PendingReply() {
        // Status codes are ignored: a killed caller gets EKILLED here, and
        // there is nothing left to clean up then. The demonitor frees a death
        // signal of this monitor already queued, and none arrives after it
        // (also from another node: the signal is checked against the monitor
        // on arrival), so a request that got its reply leaves nothing behind.
        lunatic_demonitor_tag(server_, tag_.id());
        if (!settled_) {
            // Timed out, server died, or an exception: a reply may still come
            // (late, or from a process holding a DeferredResponse): drop it on arrival.
            lunatic_tag_discard(tag_.id());
        }
    }
    PendingReply(const PendingReply &) = delete;
    PendingReply &operator=(const PendingReply &) = delete;

    Tag tag() const noexcept { return tag_; }

    /// The reply message, or ServerDied / TimeoutError.
    MessagePtr wait(int64_t timeout_ns) {
        MessagePtr m = next(timeout_ns);
        if (!m) throw TimeoutError(LUNATIC_ETIMEDOUT, "request timed out: no reply in time");
        if (lunatic_message_kind_of(m.get()) == LUNATIC_MESSAGE_DATA) {
            settled_ = true;
            return m;
        }
        // Signals are taken before data messages: a server that replied and
        // then ended has its reply queued already (it was sent first), so
        // look for it before calling the server dead.
        const Tag tags[1] = {tag_};
        if (MessagePtr reply = receive_raw(LUNATIC_RECEIVE_DATA, tags, 0)) {
            settled_ = true;
            return reply;
        }
        throw_died(m.get());
    }

    /// Waits for the server's end (for shutdown): its reason, or TimeoutError.
    ExitReason wait_death(int64_t timeout_ns) {
        for (;;) {
            MessagePtr m = next(timeout_ns);
            if (!m) throw TimeoutError(LUNATIC_ETIMEDOUT, "the server did not end in time");
            if (lunatic_message_kind_of(m.get()) == LUNATIC_MESSAGE_DATA) continue;
            lunatic_pid pid{};
            lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
            lunatic_message_signal(m.get(), &pid, &reason);
            settled_ = true;  // nobody replies to a shutdown: nothing else can come
            return static_cast<ExitReason>(reason);
        }
    }

    [[noreturn]] static void throw_died(const lunatic_message *m) {
        lunatic_pid pid{};
        lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
        lunatic_message_signal(m, &pid, &reason);
        std::string text(reinterpret_cast<const char *>(lunatic_message_data(m)),
                         lunatic_message_size(m));
        throw ServerDied(pid, static_cast<ExitReason>(reason), text.empty() ? "ended" : text);
    }

private:
    MessagePtr next(int64_t timeout_ns) {
        const Tag tags[1] = {tag_};
        return receive_raw(
            LUNATIC_RECEIVE_DATA | LUNATIC_RECEIVE_PROCESS_DIED | LUNATIC_RECEIVE_SIGNAL_TAGS, tags,
            timeout_ns);
    }

    lunatic_pid server_;
    Tag tag_;
    bool settled_ = false;
};

/// Sends message (owned here until the send succeeds) for a pending request.
/// A server that is gone already is ServerDied with reason noproc.
inline void send_request(lunatic_pid server, MessagePtr message) {
    int code = lunatic_send(server, message.get());
    if (code == LUNATIC_OK) {
        message.release();
        return;
    }
    if (code == LUNATIC_ENOPROC) throw ServerDied(server, ExitReason::noproc, "noproc");
    throw_status(code);
}

/// Decodes a reply message as R with S.
template <class R, class S>
R decode_reply(const MessagePtr &m) {
    R value{};
    decode_payload<S>(lunatic_message_data(m.get()), lunatic_message_size(m.get()), value);
    return value;
}

inline lunatic_pid self_pid() {
    lunatic_pid self{};
    check(lunatic_self(&self));
    return self;
}

}  // namespace detail

/// Sends body to server as a Request and waits up to timeout for the reply
/// (see the top of this header for the errors).
template <class T, class R, class S, class Rep, class Period>
R request(const Process<Request<T, R, S>, S> &server, const std::type_identity_t<T> &body,
          std::chrono::duration<Rep, Period> timeout) {
    detail::PendingReply pending(server.raw());
    Request<T, R, S> message{body, ReplyTo<R, S>(detail::self_pid(), pending.tag())};
    detail::send_request(server.raw(),
                         detail::MessagePtr(detail::encode_message<S>(Tag::none(), message)));
    return detail::decode_reply<R, S>(pending.wait(detail::to_timeout_ns(timeout)));
}

/// request without a time limit: it still ends if the server dies (ServerDied).
template <class T, class R, class S>
R request(const Process<Request<T, R, S>, S> &server, const std::type_identity_t<T> &body) {
    detail::PendingReply pending(server.raw());
    Request<T, R, S> message{body, ReplyTo<R, S>(detail::self_pid(), pending.tag())};
    detail::send_request(server.raw(),
                         detail::MessagePtr(detail::encode_message<S>(Tag::none(), message)));
    return detail::decode_reply<R, S>(pending.wait(LUNATIC_INFINITE));
}

}  // namespace lunatic
