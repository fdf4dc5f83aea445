// A process's queue of messages, in arrival order, with selective take.
// Not synchronized: the owning Process guards it with its lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/message.hpp"

namespace lunatic::core {

// Which messages a receive accepts: any (no tags) or those whose tag is listed.
struct TagFilter {
    const int64_t *tags = nullptr;
    std::size_t count = 0;

    bool accepts(const Message &m) const noexcept {
        if (count == 0) return true;
        for (std::size_t i = 0; i < count; ++i)
            if (tags[i] == m.tag()) return true;
        return false;
    }
};

class Mailbox {
public:
    Mailbox() = default;
    Mailbox(const Mailbox &) = delete;
    Mailbox &operator=(const Mailbox &) = delete;
    ~Mailbox() { clear(); }

    void push(Message *m) noexcept {
        m->mark_queued();
        m->next = nullptr;
        if (tail_) tail_->next = m; else head_ = m;
        tail_ = m;
        ++size_;
    }

    // Removes and returns the oldest accepted message, or nullptr.
    Message *take(const TagFilter &filter) noexcept;

    std::size_t size() const noexcept { return size_; }
    void clear() noexcept;

private:
    Message *head_ = nullptr;
    Message *tail_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace lunatic::core
