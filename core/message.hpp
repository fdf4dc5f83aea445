// A message: a tag, a payload of bytes and where it came from. Messages are
// linked into mailboxes intrusively, so queueing one never allocates.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lunatic::core {

struct Pid {
    uint64_t node = 0;
    uint64_t id = 0;
    friend bool operator==(const Pid &, const Pid &) = default;
};

enum class MessageKind : uint32_t { data = 0, link_died = 1, process_died = 2 };

// Why a process ended; the values are the C ABI's LUNATIC_EXIT_*.
enum class ExitReason : uint32_t {
    normal = 0,
    failed = 1,
    killed = 2,
    noproc = 3,
    noconnection = 4,
    memory_limit = 5,
    fuel_exhausted = 6,
};

class Message {
public:
    // nullptr when out of memory.
    static Message *create(int64_t tag, std::size_t reserve) noexcept;
    // Frees a message the caller holds; returns false (and does nothing) for
    // one already freed or sent, as far as that can be told.
    static bool destroy(Message *message) noexcept;
    // Frees a message still queued in a mailbox.
    static void destroy_queued(Message *message) noexcept;
    // Frees a list of taken messages linked through `next` (nullptr: nothing).
    static void destroy_list(Message *head) noexcept;

    // Held by a caller (not freed, not queued in a mailbox).
    bool is_live() const noexcept { return magic_ == kLive; }
    void mark_queued() noexcept { magic_ = kQueued; }
    void mark_taken() noexcept { magic_ = kLive; }

    // Appending and extending fail (false / nullptr) only when out of memory.
    bool append(const void *data, std::size_t len) noexcept;
    uint8_t *extend(std::size_t len) noexcept;
    void truncate(std::size_t len) noexcept { size_ = len < size_ ? len : size_; }

    int64_t tag() const noexcept { return tag_; }
    void set_tag(int64_t tag) noexcept { tag_ = tag; }
    MessageKind kind() const noexcept { return kind_; }
    void set_kind(MessageKind kind) noexcept { kind_ = kind; }
    const uint8_t *data() const noexcept { return size_ ? data_ : nullptr; }
    std::size_t size() const noexcept { return size_; }
    Pid sender() const noexcept { return sender_; }
    void set_sender(Pid sender) noexcept { sender_ = sender; }
    bool is_signal() const noexcept { return kind_ != MessageKind::data; }
    // Signals: who ended, and why (the reason's text is the payload).
    Pid signal_pid() const noexcept { return signal_pid_; }
    ExitReason reason() const noexcept { return reason_; }
    void set_signal(MessageKind kind, Pid pid, ExitReason reason) noexcept {
        kind_ = kind;
        signal_pid_ = pid;
        reason_ = reason;
    }

    Message *next = nullptr;  // mailbox link

private:
    static constexpr uint32_t kLive = 0x4c554e41;    // "LUNA"
    static constexpr uint32_t kQueued = 0x51554555;  // "QUEU"
    static constexpr uint32_t kFreed = 0xdeadf00d;
    static constexpr std::size_t kInline = 48;  // small payloads live in the message itself

    Message() = default;
    bool reserve(std::size_t capacity) noexcept;

    uint32_t magic_ = kLive;
    MessageKind kind_ = MessageKind::data;
    int64_t tag_ = 0;
    Pid sender_{};
    Pid signal_pid_{};
    ExitReason reason_ = ExitReason::normal;
    uint8_t *data_ = inline_;
    std::size_t size_ = 0;
    std::size_t capacity_ = kInline;
    uint8_t inline_[kInline];
};

}  // namespace lunatic::core
