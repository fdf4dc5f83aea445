// libFuzzer target: the node protocol's frame splitting, the decoder of every
// frame type and the chunk reassembly rules (core/node/frames.cpp), without
// sockets. The input's first byte picks the frame limit (the handshake's
// 4 KiB, the smallest max_frame_bytes, the default 1 MiB, or 4 GiB - 1 so a
// lying length is the splitter's only defence); the rest is the byte stream
// a peer sent.
//
// Checked besides "no crash, no hang, no big allocation": the splitter never
// asks for more than the limit; every frame that decodes re-encodes into a
// canonical form that decodes to the same form again; a reassembled
// message's bytes never exceed the total its first chunk announced.
#include <cstdio>
#include <cstdlib>
#include <map>

#include "core/node/frames.cpp"

namespace node = lunatic::core::node;
using node::FrameType;

namespace {

void expect(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_node_frames: %s\n", what);
        std::abort();
    }
}

// decode(encode(f)) must give back something that encodes the same way.
template <class Frame, class Decode, class Encode>
void canonical(Decode &&decode_body, Encode &&encode, const Frame &f) {
    std::string once;
    encode(once, f);
    Frame again;
    const auto *b = reinterpret_cast<const uint8_t *>(once.data());
    expect(node::split_frame(b, once.size(), 0xffffffffu).kind == node::FrameSplit::frame,
           "an encoded frame does not split");
    expect(decode_body(b + 5, once.size() - 5, &again) == nullptr,
           "an encoded frame does not decode");
    std::string twice;
    encode(twice, again);
    expect(once == twice, "re-encoding a decoded frame changed it");
}

template <class Frame>
void plain(const uint8_t *body, std::size_t n) {
    Frame f;
    if (node::decode(body, n, &f)) return;
    canonical([](const uint8_t *p, std::size_t m, Frame *out) { return node::decode(p, m, out); },
              [](std::string &out, const Frame &x) { node::append_frame(out, x); }, f);
}

template <class Frame>
void typed(FrameType type, const uint8_t *body, std::size_t n) {
    Frame f;
    if (node::decode(type, body, n, &f)) return;
    canonical([type](const uint8_t *p, std::size_t m,
                     Frame *out) { return node::decode(type, p, m, out); },
              [type](std::string &out, const Frame &x) { node::append_frame(out, type, x); }, f);
}

void reply(FrameType type, const uint8_t *body, std::size_t n) {
    node::ReplyFrame f;
    if (node::decode(body, n, &f)) return;
    canonical(
        [](const uint8_t *p, std::size_t m, node::ReplyFrame *out) {
            return node::decode(p, m, out);
        },
        [type](std::string &out, const node::ReplyFrame &x) { node::append_frame(out, type, x); },
        f);
}

// The receiver's reassembly state, as the node keeps it but counting bytes
// only (a node appends them to a Message).
struct Reassembly {
    std::map<uint64_t, node::OpenMessage> open;  // by sender

    // false: the connection would be closed.
    bool on(const node::MessageFrame &f) {
        auto it = open.find(f.from);
        const node::ChunkStep step = node::chunk_step(it == open.end() ? nullptr : &it->second, f);
        switch (step.kind) {
        case node::ChunkStep::error:
            expect(step.why != nullptr, "an error without a reason");
            return false;
        case node::ChunkStep::deliver:
            expect(it == open.end() && f.data.size() == f.total, "a bad whole message");
            return true;
        case node::ChunkStep::begin:
            expect(it == open.end() && f.data.size() <= f.total, "a bad first chunk");
            open.emplace(f.from, node::OpenMessage{f.to, f.total, f.data.size()});
            return true;
        case node::ChunkStep::append:
        case node::ChunkStep::finish:
            expect(it != open.end() && it->second.to == f.to, "a chunk for no open message");
            it->second.received += f.data.size();
            expect(it->second.received <= it->second.total, "more bytes than the total");
            if (step.kind == node::ChunkStep::finish) {
                expect(it->second.received == it->second.total, "a short message delivered");
                open.erase(it);
            }
            return true;
        }
        return false;
    }
};

// One frame (type + body). false: the connection would be closed.
bool handle(const uint8_t *frame, std::size_t len, Reassembly &reassembly) {
    const auto type = static_cast<FrameType>(frame[0]);
    const uint8_t *body = frame + 1;
    const std::size_t n = len - 1;
    switch (type) {
    case FrameType::hello:
        plain<node::HelloFrame>(body, n);
        return true;
    case FrameType::auth:
        plain<node::AuthFrame>(body, n);
        return true;
    case FrameType::info:
        plain<node::InfoFrame>(body, n);
        return true;
    case FrameType::heartbeat:
        return node::decode_heartbeat(body, n) == nullptr;
    case FrameType::message: {
        node::MessageFrame f;
        if (node::decode(body, n, &f)) return false;
        plain<node::MessageFrame>(body, n);
        return reassembly.on(f);
    }
    case FrameType::link:
    case FrameType::unlink:
    case FrameType::monitor:
    case FrameType::demonitor:
    case FrameType::kill:
        typed<node::RelationFrame>(type, body, n);
        return true;
    case FrameType::exit:
    case FrameType::down:
        typed<node::ExitFrame>(type, body, n);
        return true;
    case FrameType::spawn:
        plain<node::SpawnFrame>(body, n);
        return true;
    case FrameType::spawn_reply:
    case FrameType::lookup_reply:
        reply(type, body, n);
        return true;
    case FrameType::lookup:
        plain<node::LookupFrame>(body, n);
        return true;
    case FrameType::status:
        plain<node::StatusFrame>(body, n);
        return true;
    case FrameType::peer_up:
        plain<node::PeerUpFrame>(body, n);
        return true;
    }
    return false;  // unknown type
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    if (size == 0) return 0;
    static const uint32_t limits[] = {node::kHandshakeMaxFrame, node::kMinMaxFrame,
                                      node::kDefaultMaxFrame, 0xffffffffu};
    const uint32_t limit = limits[data[0] % 4];
    const uint8_t *p = data + 1;
    std::size_t n = size - 1;
    Reassembly reassembly;
    while (n > 0) {
        const node::FrameSplit split = node::split_frame(p, n, limit);
        if (split.kind == node::FrameSplit::error) {
            expect(split.length == 0 || split.length > limit, "a good length refused");
            return 0;
        }
        if (split.kind == node::FrameSplit::need_more) {
            // The node grows its read buffer to the frame's size: never past the limit.
            expect(n < 4 || split.length <= limit, "asked for more than the limit");
            return 0;
        }
        expect(split.length >= 1 && split.length <= limit && 4 + std::size_t(split.length) <= n,
               "a frame outside the input");
        if (!handle(p + 4, split.length, reassembly)) return 0;
        p += 4 + split.length;
        n -= 4 + split.length;
    }
    return 0;
}
