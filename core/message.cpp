#include "core/message.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace lunatic::core {

Message *Message::create(int64_t tag, std::size_t reserve) noexcept {
    void *memory = std::malloc(sizeof(Message));
    if (!memory) return nullptr;
    Message *m = new (memory) Message();
    m->tag_ = tag;
    if (!m->reserve(reserve)) {
        destroy(m);
        return nullptr;
    }
    return m;
}

bool Message::destroy(Message *m) noexcept {
    if (!m || m->magic_ != kLive) return false;
    m->magic_ = kFreed;
    if (m->data_ != m->inline_) std::free(m->data_);
    std::free(m);
    return true;
}

void Message::destroy_queued(Message *m) noexcept {
    m->magic_ = kLive;
    destroy(m);
}

bool Message::reserve(std::size_t capacity) noexcept {
    if (capacity <= capacity_) return true;
    std::size_t grown = capacity_ * 2;
    if (grown < capacity) grown = capacity;
    uint8_t *bigger;
    if (data_ == inline_) {
        bigger = static_cast<uint8_t *>(std::malloc(grown));
        if (bigger && size_) std::memcpy(bigger, inline_, size_);
    } else {
        bigger = static_cast<uint8_t *>(std::realloc(data_, grown));
    }
    if (!bigger) return false;
    data_ = bigger;
    capacity_ = grown;
    return true;
}

uint8_t *Message::extend(std::size_t len) noexcept {
    if (len > SIZE_MAX - size_ || !reserve(size_ + len)) return nullptr;
    uint8_t *at = data_ + size_;
    size_ += len;
    return at;
}

bool Message::append(const void *data, std::size_t len) noexcept {
    uint8_t *at = extend(len);
    if (!at) return false;
    if (len) std::memcpy(at, data, len);
    return true;
}

}  // namespace lunatic::core
