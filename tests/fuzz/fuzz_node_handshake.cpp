// libFuzzer target: the node handshake's state machine (core/node/handshake.cpp)
// fed the frames an unauthenticated peer sends, without sockets. The input's
// first byte holds flags, the rest is the peer's byte stream, split as the
// node splits it before authentication (frames of at most 4 KiB).
//
//   flag 1: "knows the cookie" — an AUTH frame of the right size that
//           follows an accepted HELLO gets the correct MAC patched in, so the
//           fuzzer also reaches the authenticated state and what follows it.
//   flag 2: the node dialled (it waits for the peer's STATUS after the AUTH).
//
// Checked besides "no crash, no hang, no big allocation": the node answers a
// HELLO with the MAC that proves the cookie for that HELLO's nonce and id;
// the peer is declared up only after a HELLO and an AUTH whose MAC verifies
// (and, for a dialer, a STATUS ok after them; nok declines);
// after up, declined or a refusal every further frame is refused.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/node/auth.cpp"
#include "core/node/frames.cpp"
#include "core/node/handshake.cpp"

namespace node = lunatic::core::node;
using node::FrameType;

namespace {

void expect(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_node_handshake: %s\n", what);
        std::abort();
    }
}

constexpr uint64_t kMyId = 0x1111;
const std::string kCookie = "fuzz cookie";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    if (size == 0) return 0;
    const bool knows_cookie = data[0] & 1;
    const bool dialer = data[0] & 2;
    node::Nonce my_nonce;
    for (std::size_t i = 0; i < my_nonce.size(); ++i) my_nonce[i] = uint8_t(i * 7 + 1);
    node::Handshake handshake(kMyId, kCookie, my_nonce, dialer);
    std::vector<uint8_t> stream(data + 1, data + size);
    uint8_t *p = stream.data();
    std::size_t n = stream.size();
    bool sent_auth = false, verified = false, up = false, declined = false, refused = false;
    uint64_t their_id = 0;
    while (n > 0) {
        const node::FrameSplit split = node::split_frame(p, n, node::kHandshakeMaxFrame);
        if (split.kind != node::FrameSplit::frame) break;
        uint8_t *frame = p + 4;
        const std::size_t len = split.length;
        p += 4 + len;
        n -= 4 + len;
        if (knows_cookie && sent_auth && !verified && !up && frame[0] == uint8_t(FrameType::auth) &&
            len == 1 + node::kMacBytes) {
            const node::Mac mac = node::auth_mac(kCookie, my_nonce, their_id, kMyId);
            std::memcpy(frame + 1, mac.data(), mac.size());
        }
        const node::Handshake::Step step = handshake.on_frame(frame, len);
        if (up || declined || refused) {
            expect(step.kind == node::Handshake::Step::refuse, "a frame accepted after the end");
            continue;
        }
        switch (step.kind) {
        case node::Handshake::Step::send_auth: {
            expect(!sent_auth && frame[0] == uint8_t(FrameType::hello), "auth without a hello");
            const node::HelloFrame &hello = handshake.hello();
            expect(hello.node_id != 0 && hello.node_id != kMyId, "a bad node id accepted");
            node::Nonce theirs;
            std::copy(hello.nonce.begin(), hello.nonce.end(), theirs.begin());
            const node::Mac proof = node::auth_mac(kCookie, theirs, kMyId, hello.node_id);
            expect(node::mac_equal(proof, step.auth.mac.data()), "the wrong proof sent");
            sent_auth = true;
            their_id = hello.node_id;
            break;
        }
        case node::Handshake::Step::verified:
        case node::Handshake::Step::up: {
            if (dialer && step.kind == node::Handshake::Step::up) {
                expect(verified && frame[0] == uint8_t(FrameType::status) && len == 2 &&
                           frame[1] == node::kStatusOk,
                       "a dialer up without a verified auth and a status ok");
                up = true;
                break;
            }
            expect(dialer == (step.kind == node::Handshake::Step::verified),
                   "verified and up mixed up");
            expect(sent_auth && !verified && frame[0] == uint8_t(FrameType::auth),
                   "authenticated without hello and auth");
            const node::Mac expected = node::auth_mac(kCookie, my_nonce, their_id, kMyId);
            expect(node::mac_equal(expected, frame + 1), "authenticated with a wrong MAC");
            verified = true;
            up = !dialer;
            break;
        }
        case node::Handshake::Step::declined:
            expect(dialer && verified && frame[0] == uint8_t(FrameType::status) && len == 2 &&
                       frame[1] == node::kStatusNok,
                   "declined without a verified auth and a status nok");
            declined = true;
            break;
        case node::Handshake::Step::refuse:
            expect(!step.why.empty(), "a refusal without a reason");
            refused = true;
            break;
        }
        expect(handshake.done() == (up || declined || refused), "done() disagrees");
    }
    return 0;
}
