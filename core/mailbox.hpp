// A process's messages, in arrival order, with selective take. Signals
// (LinkDied, ProcessDied) wait in a queue of their own, so a receive that asks
// for them finds them at once however many data messages wait.
// Not synchronized: the owning Process guards it with its lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/message.hpp"

namespace lunatic::core {

// Which messages a receive accepts: data messages (any, or those whose tag
// is listed) and/or signals of the kinds in the mask.
struct TagFilter {
    static constexpr uint32_t kData = 0x1, kLinkDied = 0x2, kProcessDied = 0x4;

    const int64_t *tags = nullptr;
    std::size_t count = 0;
    uint32_t mask = kData;

    bool accepts(const Message &m) const noexcept {
        switch (m.kind()) {
        case MessageKind::link_died:
            return mask & kLinkDied;
        case MessageKind::process_died:
            return mask & kProcessDied;
        case MessageKind::data:
            break;
        }
        if (!(mask & kData)) return false;
        if (count == 0) return true;
        for (std::size_t i = 0; i < count; ++i)
            if (tags[i] == m.tag()) return true;
        return false;
    }
    bool wants_signals() const noexcept { return mask & (kLinkDied | kProcessDied); }
};

class Mailbox {
public:
    Mailbox() = default;
    Mailbox(const Mailbox &) = delete;
    Mailbox &operator=(const Mailbox &) = delete;

    void push(Message *m) noexcept { (m->is_signal() ? signals_ : data_).push(m); }

    // Removes and returns the oldest accepted message, signals first, or nullptr.
    Message *take(const TagFilter &filter) noexcept {
        if (filter.wants_signals())
            if (Message *m = signals_.take(filter)) return m;
        return (filter.mask & TagFilter::kData) ? data_.take(filter) : nullptr;
    }

    std::size_t size() const noexcept { return data_.size() + signals_.size(); }
    void clear() noexcept {
        data_.clear();
        signals_.clear();
    }

private:
    class Queue {
    public:
        ~Queue() { clear(); }
        void push(Message *m) noexcept {
            m->mark_queued();
            m->next = nullptr;
            if (tail_)
                tail_->next = m;
            else
                head_ = m;
            tail_ = m;
            ++size_;
        }
        Message *take(const TagFilter &filter) noexcept;
        std::size_t size() const noexcept { return size_; }
        void clear() noexcept;

    private:
        Message *head_ = nullptr;
        Message *tail_ = nullptr;
        std::size_t size_ = 0;
    };
    Queue data_;
    Queue signals_;
};

}  // namespace lunatic::core
