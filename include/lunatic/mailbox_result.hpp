// lunatic::MailboxResult<M>: what a receive that can fail gives back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lunatic/error.hpp"
#include "lunatic/tag.hpp"

namespace lunatic {

/// A message, or why there is none: the wait timed out, or a message arrived
/// whose payload is not an M (it was taken from the mailbox: its tag, raw
/// bytes and the decoder's complaint are kept here, so nothing is lost silently).
template <class M>
class MailboxResult {
public:
    enum class Kind { message, timed_out, deserialization_failed };

    static MailboxResult message(Tag tag, M value) {
        MailboxResult r(Kind::message, tag);
        r.value_.emplace(std::move(value));
        return r;
    }
    static MailboxResult timed_out() { return MailboxResult(Kind::timed_out, Tag::none()); }
    static MailboxResult deserialization_failed(Tag tag, std::string error, std::vector<uint8_t> raw) {
        MailboxResult r(Kind::deserialization_failed, tag);
        r.error_ = std::move(error);
        r.raw_ = std::move(raw);
        return r;
    }

    Kind kind() const noexcept { return kind_; }
    bool is_message() const noexcept { return kind_ == Kind::message; }
    bool is_timed_out() const noexcept { return kind_ == Kind::timed_out; }
    bool is_deserialization_failed() const noexcept { return kind_ == Kind::deserialization_failed; }
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

    /// The tag of the message (also of one that failed to decode).
    Tag tag() const noexcept { return tag_; }
    /// Why decoding failed (empty otherwise).
    const std::string &error() const noexcept { return error_; }
    /// The payload that failed to decode.
    const std::vector<uint8_t> &raw() const noexcept { return raw_; }

private:
    MailboxResult(Kind kind, Tag tag) : kind_(kind), tag_(tag) {}
    void ensure() const {
        if (kind_ == Kind::timed_out) throw TimeoutError(LUNATIC_ETIMEDOUT, "receive timed out");
        if (kind_ == Kind::deserialization_failed) throw DeserializationError(error_);
    }

    Kind kind_;
    Tag tag_;
    std::optional<M> value_;
    std::string error_;
    std::vector<uint8_t> raw_;
};

}  // namespace lunatic
