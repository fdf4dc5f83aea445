#include "core/message.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace lunatic::core {

namespace {

// Freed messages wait in a small per-thread stock before malloc gets them
// back: creating a message then rarely calls malloc, and a message freed
// twice is still marked freed (malloc would reuse the memory at once and
// overwrite the mark). The stock holds plain memory, so a fiber that moves
// to another thread may free into that thread's stock.
class FreeMessages {
public:
    static constexpr std::size_t kMax = 256;
    ~FreeMessages() {
        for (std::size_t i = 0; i < count_; ++i) std::free(blocks_[i]);
    }
    void *take() noexcept { return count_ ? blocks_[--count_] : nullptr; }
    bool give(void *block) noexcept {
        if (count_ == kMax) return false;
        blocks_[count_++] = block;
        return true;
    }

private:
    void *blocks_[kMax];
    std::size_t count_ = 0;
};

// Behind a pointer so the library's static TLS block stays small: the
// current-process pointers are initial-exec (core/current.cpp), and a module
// with initial-exec TLS must fit glibc's static TLS surplus when Python
// dlopens it; a 2 KiB stock inline would not.
// After the thread's stock is destroyed (thread exit), messages freed by later
// thread-local destructors go straight to malloc.
struct FreeMessagesSlot {
    FreeMessages *stock = nullptr;
    bool gone = false;
    ~FreeMessagesSlot() {
        delete stock;
        stock = nullptr;
        gone = true;
    }
};
__attribute__((tls_model("initial-exec"))) thread_local FreeMessagesSlot free_messages_slot;

FreeMessages *free_messages() noexcept {
    FreeMessagesSlot &slot = free_messages_slot;
    if (__builtin_expect(slot.stock == nullptr, 0) && !slot.gone)
        slot.stock = new (std::nothrow) FreeMessages();
    return slot.stock;
}

}  // namespace

Message *Message::create(int64_t tag, std::size_t reserve) noexcept {
    FreeMessages *stock = free_messages();
    void *memory = stock ? stock->take() : nullptr;
    if (!memory) memory = std::malloc(sizeof(Message));
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
    m->data_ = nullptr;
    FreeMessages *stock = free_messages();
    if (!stock || !stock->give(m)) std::free(m);
    return true;
}

void Message::destroy_queued(Message *m) noexcept {
    m->magic_ = kLive;
    destroy(m);
}

void Message::destroy_list(Message *m) noexcept {
    while (m) {
        Message *next = m->next;
        m->next = nullptr;
        destroy(m);
        m = next;
    }
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
