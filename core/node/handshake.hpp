// The handshake as a state machine without a socket (docs/nodes.md,
// "Handshake"): it is fed the frames a peer sends before it is up and says
// what to do next — answer its HELLO with an AUTH, declare it up, or refuse
// it. The accepting side answers the dialer's AUTH with a STATUS (ok or nok:
// the node decides which of two crossed connections stays); the dialer is up
// only on ok. Peer (node.cpp) does the io; tests/fuzz/fuzz_node_handshake.cpp feeds
// it arbitrary frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/node/auth.hpp"
#include "core/node/frames.hpp"

namespace lunatic::core::node {

class Handshake {
public:
    struct Step {
        enum Kind {
            send_auth,  // send auth (an AUTH frame) to the peer, then wait for its AUTH
            up,         // accepting side: the peer proved the cookie (the node answers
                        // STATUS ok or nok); dialer: the STATUS said ok
            verified,   // dialer: the peer proved the cookie; wait for its STATUS
            declined,   // dialer: the STATUS said nok (another connection stays)
            refuse,     // close the connection; why says what was wrong
        } kind = refuse;
        AuthFrame auth;             // send_auth
        std::string why;            // refuse
        bool wrong_cookie = false;  // refuse: the AUTH did not verify
    };

    // dialer: this side opened the connection (it waits for the peer's STATUS).
    Handshake(uint64_t my_id, std::string cookie, const Nonce &my_nonce, bool dialer = false)
        : my_id_(my_id), cookie_(std::move(cookie)), my_nonce_(my_nonce), dialer_(dialer) {}

    // One frame (type byte + body, as split_frame cut it) received during the
    // handshake. After `up` or `refuse` the handshake is over: any further
    // frame is refused (so is anything after `declined`).
    Step on_frame(const uint8_t *frame, std::size_t len);

    bool got_hello() const noexcept { return got_hello_; }
    // Dialer: the peer's AUTH verified, its STATUS not read yet.
    bool verified() const noexcept { return verified_; }
    bool done() const noexcept { return done_; }
    // The peer's HELLO (valid once got_hello()).
    const HelloFrame &hello() const noexcept { return hello_; }

private:
    Step refuse(std::string why, bool wrong_cookie = false) {
        done_ = true;
        Step s;
        s.why = std::move(why);
        s.wrong_cookie = wrong_cookie;
        return s;
    }

    const uint64_t my_id_;
    const std::string cookie_;
    const Nonce my_nonce_;
    const bool dialer_;
    HelloFrame hello_;
    bool got_hello_ = false;
    bool verified_ = false;
    bool done_ = false;
};

}  // namespace lunatic::core::node
