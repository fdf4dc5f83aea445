#include "core/mailbox.hpp"

namespace lunatic::core {

Message *Mailbox::Queue::take(const TagFilter &filter) noexcept {
    Message *prev = nullptr;
    for (Message *m = head_; m; prev = m, m = m->next) {
        if (!filter.accepts(*m)) continue;
        if (prev)
            prev->next = m->next;
        else
            head_ = m->next;
        if (tail_ == m) tail_ = prev;
        m->next = nullptr;
        m->mark_taken();
        --size_;
        return m;
    }
    return nullptr;
}

void Mailbox::Queue::clear() noexcept {
    for (Message *m = head_; m;) {
        Message *next = m->next;
        Message::destroy_queued(m);
        m = next;
    }
    head_ = tail_ = nullptr;
    size_ = 0;
}

}  // namespace lunatic::core
