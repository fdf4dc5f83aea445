// The node protocol's byte-level encoding (docs/nodes.md): little-endian
// integers and length-prefixed strings, written into a growing buffer and
// read back with every length checked, so a malformed frame is an error
// (ByteReader::ok() false) and never a read past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace lunatic::core::node {

constexpr uint32_t kMagic = 0x4e554c31;  // "1LUN" little-endian: first bytes of a HELLO
// 2: the accepting side answers STATUS after the dialer's AUTH (crossed dials).
constexpr uint16_t kProtocolVersion = 2;
constexpr std::size_t kNonceBytes = 32;
constexpr std::size_t kMacBytes = 32;  // HMAC-SHA256
// A frame is u32 length (of type + body) then a u8 type. Before a peer has
// authenticated, frames are limited to this, whatever max_frame_bytes says.
constexpr uint32_t kHandshakeMaxFrame = 4096;
constexpr uint32_t kMinMaxFrame = 256;  // smallest configurable max_frame_bytes
constexpr uint32_t kDefaultMaxFrame = 1u << 20;

enum class FrameType : uint8_t {
    hello = 1,  // magic u32, version u16, node id u64, name str, nonce[32],
                // max frame u32, peer timeout ms u32
    auth = 2,   // mac[32] = HMAC(cookie, peer's nonce | sender id | receiver id)
    info = 3,   // listen host str, port u16, attributes (u32 n, str*), peers (u32 n, {id u64, host
                // str, port u16}*)
    heartbeat = 4,  // empty
    message =
        5,     // from u64, to u64, tag i64, flags u8 (1 first, 2 last), [total u64 if first], bytes
    link = 6,  // from u64, to u64, tag i64
    unlink = 7,         // from u64, to u64
    exit = 8,           // from u64 (dead), to u64 (linked), reason u32, text str
    monitor = 9,        // from u64 (watcher), to u64 (target), tag i64
    demonitor = 10,     // from u64, to u64, tag i64
    down = 11,          // from u64 (dead), to u64 (watcher), tag i64, reason u32, text str
    kill = 12,          // from u64, to u64
    spawn = 13,         // from u64, reply tag i64, entry str, flags u32, link tag i64,
                        // has_config u8, [max_memory u64, max_fuel u64, can_spawn u8,
                        // can_configs u8, stack u64, guard u8], capture str
    spawn_reply = 14,   // to u64, reply tag i64, status i32, pid node u64, pid id u64, detail str
    lookup = 15,        // from u64, reply tag i64, name str, type str
    lookup_reply = 16,  // to u64, reply tag i64, status i32, pid node u64, pid id u64
    peer_up = 17,       // id u64, host str, port u16 (a node the sender just connected to)
    status = 18,        // u8 (0 ok: this connection is up, 1 nok: another one to the node stays);
                        // the accepting side's answer to the dialer's AUTH
};

constexpr uint8_t kStatusOk = 0;
constexpr uint8_t kStatusNok = 1;

constexpr uint8_t kChunkFirst = 1;
constexpr uint8_t kChunkLast = 2;

class ByteWriter {
public:
    explicit ByteWriter(std::string &out) : out_(out) {}
    void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u16(uint16_t v) { put(v, 2); }
    void u32(uint32_t v) { put(v, 4); }
    void u64(uint64_t v) { put(v, 8); }
    void i32(int32_t v) { put(static_cast<uint32_t>(v), 4); }
    void i64(int64_t v) { put(static_cast<uint64_t>(v), 8); }
    void bytes(const void *p, std::size_t n) { out_.append(static_cast<const char *>(p), n); }
    void str(std::string_view s) {
        u32(static_cast<uint32_t>(s.size()));
        bytes(s.data(), s.size());
    }

private:
    void put(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    std::string &out_;
};

// Starts a frame in out: reserves its length, writes the type. finish_frame
// fills the length in once the body is written.
inline std::size_t begin_frame(std::string &out, FrameType type) {
    std::size_t at = out.size();
    out.append(4, '\0');
    out.push_back(static_cast<char>(type));
    return at;
}
inline void finish_frame(std::string &out, std::size_t at) {
    uint32_t len = static_cast<uint32_t>(out.size() - at - 4);
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((len >> (8 * i)) & 0xff);
}

class ByteReader {
public:
    ByteReader(const uint8_t *p, std::size_t n) : p_(p), end_(p + n) {}
    bool ok() const noexcept { return ok_; }
    bool at_end() const noexcept { return p_ == end_; }
    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
    uint8_t u8() { return static_cast<uint8_t>(get(1)); }
    uint16_t u16() { return static_cast<uint16_t>(get(2)); }
    uint32_t u32() { return static_cast<uint32_t>(get(4)); }
    uint64_t u64() { return get(8); }
    int32_t i32() { return static_cast<int32_t>(static_cast<uint32_t>(get(4))); }
    int64_t i64() { return static_cast<int64_t>(get(8)); }
    const uint8_t *bytes(std::size_t n) {
        if (!ok_ || remaining() < n) return fail();
        const uint8_t *at = p_;
        p_ += n;
        return at;
    }
    // A length-prefixed string of at most max bytes.
    std::string str(std::size_t max = 1u << 20) {
        uint32_t n = u32();
        if (n > max) {
            fail();
            return {};
        }
        const uint8_t *b = bytes(n);
        return b ? std::string(reinterpret_cast<const char *>(b), n) : std::string();
    }
    // The rest of the frame.
    std::string_view rest() {
        std::string_view v(reinterpret_cast<const char *>(p_), remaining());
        p_ = end_;
        return v;
    }

private:
    const uint8_t *fail() {
        ok_ = false;
        p_ = end_;
        return nullptr;
    }
    uint64_t get(int n) {
        if (!ok_ || remaining() < static_cast<std::size_t>(n)) {
            fail();
            return 0;
        }
        uint64_t v = 0;
        for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p_[i]) << (8 * i);
        p_ += n;
        return v;
    }
    const uint8_t *p_;
    const uint8_t *end_;
    bool ok_ = true;
};

}  // namespace lunatic::core::node
