#include "core/node/handshake.hpp"

#include <algorithm>

namespace lunatic::core::node {

Handshake::Step Handshake::on_frame(const uint8_t *frame, std::size_t len) {
    if (done_) return refuse("a frame after the handshake ended");
    if (len == 0) return refuse("an empty frame");
    const auto type = static_cast<FrameType>(frame[0]);
    const uint8_t *body = frame + 1;
    const std::size_t n = len - 1;
    if (type == FrameType::hello && !got_hello_) {
        if (const char *why = decode(body, n, &hello_)) {
            if (why == kWhyOtherVersion)
                return refuse("protocol version " + std::to_string(hello_.version) +
                              " (this node speaks " + std::to_string(kProtocolVersion) + ")");
            return refuse(why);
        }
        if (hello_.node_id == my_id_) return refuse("a hello with a bad node id");
        got_hello_ = true;
        Nonce theirs;
        std::copy(hello_.nonce.begin(), hello_.nonce.end(), theirs.begin());
        Step s;
        s.kind = Step::send_auth;
        const Mac mac = auth_mac(cookie_, theirs, my_id_, hello_.node_id);
        std::copy(mac.begin(), mac.end(), s.auth.mac.begin());
        return s;
    }
    if (type == FrameType::auth && got_hello_ && !verified_) {
        AuthFrame auth;
        if (const char *why = decode(body, n, &auth)) return refuse(why);
        if (!mac_equal(auth_mac(cookie_, my_nonce_, hello_.node_id, my_id_), auth.mac.data()))
            return refuse("it did not prove the cookie (wrong cookie)", true);
        verified_ = true;
        Step s;
        if (dialer_) {
            s.kind = Step::verified;
        } else {
            done_ = true;
            s.kind = Step::up;
        }
        return s;
    }
    if (type == FrameType::status && dialer_ && verified_) {
        StatusFrame status;
        if (const char *why = decode(body, n, &status)) return refuse(why);
        done_ = true;
        Step s;
        s.kind = status.status == kStatusOk ? Step::up : Step::declined;
        return s;
    }
    return refuse("an unexpected frame during the handshake");
}

}  // namespace lunatic::core::node
