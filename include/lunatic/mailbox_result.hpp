// lunatic::MailboxResult<M>: what a receive that can fail gives back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lunatic/error.hpp"
#include "lunatic/fwd.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/tag.hpp"

namespace lunatic {

// ExitReason (why a process ended) lives in lunatic/error.hpp.

/// A message, or why there is none: the wait timed out; a message arrived
/// whose payload is not an M (it was taken from the mailbox: its tag, raw
/// bytes and the decoder's complaint are kept here, so nothing is lost
/// silently); or a signal: a linked process failed while this one catches
/// link failures (LinkDied), or a monitored process ended (ProcessDied).
template <class M>
class MailboxResult {
public:
    enum class Kind { message, timed_out, deserialization_failed, link_died, process_died };

    static MailboxResult signal(Kind kind, Tag tag, lunatic_pid pid, ExitReason reason,
                                std::string text) {
        MailboxResult r(kind, tag);
        r.pid_ = pid;
        r.reason_ = reason;
        r.error_ = std::move(text);
        return r;
    }

    static MailboxResult message(Tag tag, M value) {
        MailboxResult r(Kind::message, tag);
        r.value_.emplace(std::move(value));
        return r;
    }
    static MailboxResult timed_out() { return MailboxResult(Kind::timed_out, Tag::none()); }
    static MailboxResult deserialization_failed(Tag tag, std::string error,
                                                std::vector<uint8_t> raw) {
        MailboxResult r(Kind::deserialization_failed, tag);
        r.error_ = std::move(error);
        r.raw_ = std::move(raw);
        return r;
    }

    Kind kind() const noexcept { return kind_; }
    bool is_message() const noexcept { return kind_ == Kind::message; }
    bool is_timed_out() const noexcept { return kind_ == Kind::timed_out; }
    bool is_deserialization_failed() const noexcept {
        return kind_ == Kind::deserialization_failed;
    }
    bool is_link_died() const noexcept { return kind_ == Kind::link_died; }
    bool is_process_died() const noexcept { return kind_ == Kind::process_died; }

    /// LinkDied / ProcessDied: the process that ended, why, and the reason as text
    /// ("failed: <message>", "killed", ...).
    lunatic_pid pid() const noexcept { return pid_; }
    template <class PM, class PS = Bincode>
    Process<PM, PS> process() const noexcept {
        return Process<PM, PS>(pid_);
    }
    ExitReason reason() const noexcept { return reason_; }
    const std::string &reason_text() const noexcept { return error_; }
    explicit operator bool() const noexcept { return is_message(); }

    /// The message; throws TimeoutError or DeserializationError when there is none.
    M &value() & {
        ensure();
        return *value_;
    }
    const M &value() const & {
        ensure();
        return *value_;
    }
    M &&value() && {
        ensure();
        return std::move(*value_);
    }
    M &operator*() & { return value(); }
    const M &operator*() const & { return value(); }
    M *operator->() { return &value(); }
    const M *operator->() const { return &value(); }

    /// The tag of the message (also of one that failed to decode, and a LinkDied's link tag).
    Tag tag() const noexcept { return tag_; }
    /// Why decoding failed (the reason's text for a signal).
    const std::string &error() const noexcept { return error_; }
    /// The payload that failed to decode.
    const std::vector<uint8_t> &raw() const noexcept { return raw_; }

private:
    MailboxResult(Kind kind, Tag tag) : kind_(kind), tag_(tag) {}
    void ensure() const {
        if (kind_ == Kind::timed_out) throw TimeoutError(LUNATIC_ETIMEDOUT, "receive timed out");
        if (kind_ == Kind::deserialization_failed) throw DeserializationError(error_);
        if (kind_ == Kind::link_died)
            throw Error(LUNATIC_ESTATE, "a linked process failed (" + error_ + ")");
        if (kind_ == Kind::process_died)
            throw Error(LUNATIC_ESTATE, "a monitored process ended (" + error_ + ")");
    }

    Kind kind_;
    Tag tag_;
    std::optional<M> value_;
    std::string error_;
    std::vector<uint8_t> raw_;
    lunatic_pid pid_{};
    ExitReason reason_ = ExitReason::normal;
};

}  // namespace lunatic
