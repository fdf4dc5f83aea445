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
    // Signals too must carry a listed tag (LUNATIC_RECEIVE_SIGNAL_TAGS).
    static constexpr uint32_t kSignalTags = 0x8;

    const int64_t *tags = nullptr;
    std::size_t count = 0;
    uint32_t mask = kData;

    bool accepts(const Message &m) const noexcept {
        switch (m.kind()) {
        case MessageKind::link_died:
            if (!(mask & kLinkDied)) return false;
            return !(mask & kSignalTags) || has_tag(m.tag());
        case MessageKind::process_died:
            if (!(mask & kProcessDied)) return false;
            return !(mask & kSignalTags) || has_tag(m.tag());
        case MessageKind::data:
            break;
        }
        if (!(mask & kData)) return false;
        return has_tag(m.tag());
    }
    // Whether tag is one of the listed tags (any tag when none is listed).
    bool has_tag(int64_t tag) const noexcept {
        if (count == 0) return true;
        for (std::size_t i = 0; i < count; ++i)
            if (tags[i] == tag) return true;
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

    // Removes every message (data or signal) for which pred(message) holds and
    // returns them as a list linked through `next`, in arrival order per queue.
    template <class Pred>
    Message *remove_if(Pred pred) noexcept {
        Message *removed = nullptr;
        Message **tail = &removed;
        data_.remove_if(pred, tail);
        signals_.remove_if(pred, tail);
        return removed;
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
        template <class Pred>
        void remove_if(Pred pred, Message **&out_tail) noexcept {
            Message *prev = nullptr;
            for (Message *m = head_; m;) {
                Message *next = m->next;
                if (!pred(static_cast<const Message &>(*m))) {
                    prev = m;
                    m = next;
                    continue;
                }
                if (prev)
                    prev->next = next;
                else
                    head_ = next;
                if (tail_ == m) tail_ = prev;
                m->next = nullptr;
                m->mark_taken();
                --size_;
                *out_tail = m;
                out_tail = &m->next;
                m = next;
            }
        }
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
