// libFuzzer target: the C ABI's message building and reading. The input is a
// little program of operations on up to four open messages and the calling
// thread's own mailbox (the thread is attached to a runtime as a process):
// new, append, extend, truncate, set_tag, send, send_bytes, selective receive,
// mailbox_size, and the readers (data, size, tag, kind, sender, signal). A
// model of the mailbox predicts what each receive must return, byte for byte.
#include <lunatic/lunatic.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

namespace {

[[noreturn]] void fail(const char *what, int code = 0) {
    std::fprintf(stderr, "fuzz_capi_message: %s (%d: %s)\n", what, code, lunatic_strerror(code));
    std::abort();
}

void expect(bool ok, const char *what, int code = 0) {
    if (!ok) fail(what, code);
}

struct Input {
    const uint8_t *data;
    std::size_t size;
    std::size_t pos = 0;
    bool empty() const { return pos >= size; }
    uint8_t byte() { return pos < size ? data[pos++] : 0; }
    uint16_t u16() { return static_cast<uint16_t>(byte() | (byte() << 8)); }
    const uint8_t *bytes(std::size_t *n) {
        if (*n > size - pos) *n = size - pos;
        const uint8_t *at = data + pos;
        pos += *n;
        return at;
    }
};

struct Expected {
    lunatic_tag tag;
    std::vector<uint8_t> bytes;
};

struct Open {
    lunatic_message *message = nullptr;
    Expected model;
};

lunatic_pid self_pid;

void setup() {
    static bool done = false;
    if (done) return;
    done = true;
    lunatic_runtime_options options;
    lunatic_runtime_options_init(&options);
    options.workers = 1;
    lunatic_runtime *runtime = nullptr;
    int rc = lunatic_runtime_create(&options, &runtime);
    expect(rc == LUNATIC_OK, "runtime_create", rc);
    rc = lunatic_runtime_attach(runtime, &self_pid);
    expect(rc == LUNATIC_OK, "runtime_attach", rc);
    // The runtime lives as long as the fuzzer: libFuzzer exits without returning.
}

// Tags from a small set, so that filters match often: none, 1..5, a negative
// (reserved) one, and a fresh one.
lunatic_tag tag_of(uint8_t b) {
    static const lunatic_tag fresh = lunatic_tag_new();
    switch (b % 8) {
    case 6:
        return -1;
    case 7:
        return fresh;
    default:
        return b % 8;
    }
}

void check_received(lunatic_message *got, const Expected &want) {
    expect(lunatic_message_kind_of(got) == LUNATIC_MESSAGE_DATA, "kind of a data message");
    expect(lunatic_message_tag(got) == want.tag, "tag differs");
    expect(lunatic_message_size(got) == want.bytes.size(), "size differs");
    const uint8_t *data = lunatic_message_data(got);
    if (want.bytes.empty())
        expect(data == nullptr, "an empty payload has data");
    else
        expect(data && std::memcmp(data, want.bytes.data(), want.bytes.size()) == 0,
               "payload differs");
    lunatic_pid sender{};
    int rc = lunatic_message_sender(got, &sender);
    expect(rc == LUNATIC_OK && sender.node == self_pid.node && sender.id == self_pid.id,
           "sender differs", rc);
    lunatic_pid pid{};
    lunatic_exit_reason reason{};
    rc = lunatic_message_signal(got, &pid, &reason);
    expect(rc != LUNATIC_OK, "lunatic_message_signal accepted a data message", rc);
}

constexpr std::size_t kMaxModelBytes = std::size_t(8) << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    setup();
    Input in{data, size};
    Open open[4];
    std::deque<Expected> mailbox;  // what the mailbox must hold, oldest first
    std::size_t model_bytes = 0;
    int rc;

    while (!in.empty()) {
        const uint8_t op = in.byte();
        Open &slot = open[(op >> 4) & 3];
        switch (op % 11) {
        case 0: {  // new
            if (slot.message) break;
            lunatic_tag tag = tag_of(in.byte());
            std::size_t reserve = in.u16();
            rc = lunatic_message_new(tag, reserve, &slot.message);
            expect(rc == LUNATIC_OK && slot.message, "message_new", rc);
            expect(lunatic_message_size(slot.message) == 0, "a new message is not empty");
            expect(lunatic_message_tag(slot.message) == tag, "a new message's tag");
            lunatic_pid sender{1, 1};
            rc = lunatic_message_sender(slot.message, &sender);
            expect(rc == LUNATIC_OK && sender.node == 0 && sender.id == 0,
                   "an unsent message has a sender", rc);
            slot.model = Expected{tag, {}};
            break;
        }
        case 1: {  // append
            if (!slot.message) break;
            std::size_t n = in.byte();
            const uint8_t *bytes = in.bytes(&n);
            if (model_bytes + n > kMaxModelBytes) break;
            rc = lunatic_message_append(slot.message, n ? bytes : nullptr, n);
            expect(rc == LUNATIC_OK, "message_append", rc);
            slot.model.bytes.insert(slot.model.bytes.end(), bytes, bytes + n);
            model_bytes += n;
            break;
        }
        case 2: {  // extend, filled with a pattern
            if (!slot.message) break;
            std::size_t n = in.u16();
            if (model_bytes + n > kMaxModelBytes) break;
            uint8_t fill = in.byte();
            uint8_t *at = nullptr;
            rc = lunatic_message_extend(slot.message, n, &at);
            expect(rc == LUNATIC_OK, "message_extend", rc);
            expect(n == 0 || at != nullptr, "extend gave no room");
            if (n) std::memset(at, fill, n);
            slot.model.bytes.insert(slot.model.bytes.end(), n, fill);
            model_bytes += n;
            break;
        }
        case 3: {  // truncate, sometimes beyond the size (refused)
            if (!slot.message) break;
            std::size_t len = in.u16();
            rc = lunatic_message_truncate(slot.message, len);
            if (len <= slot.model.bytes.size()) {
                expect(rc == LUNATIC_OK, "message_truncate", rc);
                slot.model.bytes.resize(len);
            } else {
                expect(rc != LUNATIC_OK, "truncate beyond the size accepted", rc);
            }
            expect(lunatic_message_size(slot.message) == slot.model.bytes.size(),
                   "size after truncate");
            break;
        }
        case 4: {  // set_tag
            if (!slot.message) break;
            lunatic_tag tag = tag_of(in.byte());
            rc = lunatic_message_set_tag(slot.message, tag);
            if (rc == LUNATIC_OK) slot.model.tag = tag;
            expect(lunatic_message_tag(slot.message) == slot.model.tag, "tag after set_tag");
            break;
        }
        case 5: {  // send to self
            if (!slot.message) break;
            rc = lunatic_send(self_pid, slot.message);
            if (rc == LUNATIC_OK) {
                mailbox.push_back(std::move(slot.model));
                slot.message = nullptr;
            }
            break;
        }
        case 6: {  // send_bytes to self
            lunatic_tag tag = tag_of(in.byte());
            std::size_t n = in.byte();
            const uint8_t *bytes = in.bytes(&n);
            rc = lunatic_send_bytes(self_pid, tag, n ? bytes : nullptr, n);
            if (rc == LUNATIC_OK) mailbox.push_back(Expected{tag, {bytes, bytes + n}});
            model_bytes += n;
            break;
        }
        case 7:
        case 8: {  // selective receive, polling
            lunatic_tag tags[4];
            std::size_t ntags = in.byte() % 5;
            for (std::size_t i = 0; i < ntags; ++i) tags[i] = tag_of(in.byte());
            lunatic_message *got = nullptr;
            rc = lunatic_receive(ntags ? tags : nullptr, ntags, 0, &got);
            auto match = mailbox.begin();
            for (; match != mailbox.end(); ++match) {
                bool ok = ntags == 0;
                for (std::size_t i = 0; i < ntags && !ok; ++i) ok = tags[i] == match->tag;
                if (ok) break;
            }
            if (match == mailbox.end()) {
                expect(rc == LUNATIC_ETIMEDOUT, "receive found what was not sent", rc);
                break;
            }
            expect(rc == LUNATIC_OK, "receive missed a queued message", rc);
            check_received(got, *match);
            lunatic_message_free(got);
            mailbox.erase(match);
            break;
        }
        case 9: {  // mailbox_size
            std::size_t n = 0;
            rc = lunatic_mailbox_size(&n);
            expect(rc == LUNATIC_OK && n == mailbox.size(), "mailbox_size", rc);
            break;
        }
        default: {  // readers on an open message, then free it
            if (!slot.message) break;
            expect(lunatic_message_kind_of(slot.message) == LUNATIC_MESSAGE_DATA, "kind");
            expect(lunatic_message_size(slot.message) == slot.model.bytes.size(), "size");
            if (!slot.model.bytes.empty())
                expect(std::memcmp(lunatic_message_data(slot.message), slot.model.bytes.data(),
                                   slot.model.bytes.size()) == 0,
                       "contents");
            if (in.byte() & 1) {
                lunatic_message_free(slot.message);
                slot.message = nullptr;
            }
            break;
        }
        }
    }

    for (Open &o : open) lunatic_message_free(o.message);
    while (!mailbox.empty()) {
        lunatic_message *got = nullptr;
        rc = lunatic_receive(nullptr, 0, 0, &got);
        expect(rc == LUNATIC_OK, "a sent message is missing", rc);
        check_received(got, mailbox.front());
        lunatic_message_free(got);
        mailbox.pop_front();
    }
    lunatic_message *extra = nullptr;
    rc = lunatic_receive(nullptr, 0, 0, &extra);
    expect(rc == LUNATIC_ETIMEDOUT, "the mailbox holds more than was sent", rc);
    return 0;
}
