// The node protocol's frames as values (docs/nodes.md): splitting a byte
// stream into frames, decoding each frame type into a struct and encoding it
// back. Pure functions over bytes — no sockets, no runtime — so the parsing a
// peer can reach is what tests/fuzz/fuzz_node_frames.cpp exercises.
//
// A decoder checks the frame's shape (every length, string limits, no bytes
// left over, flags and enums in range); what needs the node's state (is the
// sender's id ours, is a chunk in sequence) is checked by the caller.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/node/wire.hpp"

namespace lunatic::core::node {

constexpr std::size_t kMaxName = 255;     // node names, hosts
constexpr std::size_t kMaxString = 4096;  // entry and registry names, attributes, exit texts
constexpr uint32_t kMaxAttributes = 1024;
constexpr uint32_t kMaxPeers = 65536;
// Bytes of a message frame besides the payload: type, from, to, tag, flags, total.
constexpr std::size_t kMessageOverhead = 1 + 8 + 8 + 8 + 1 + 8;

// ---- splitting a stream

struct FrameSplit {
    enum Kind { need_more, frame, error } kind = need_more;
    uint32_t length = 0;  // frame: type + body bytes after the u32 length; error: the bad length
};

// Looks at the bytes at p[0, n): a whole frame at the front, more bytes
// needed, or a length that is 0 or over limit (the connection must close).
// Never asks for more than limit + 4 bytes, whatever the length field says.
FrameSplit split_frame(const uint8_t *p, std::size_t n, uint32_t limit) noexcept;

// ---- frames (field names follow docs/nodes.md)

struct HelloFrame {
    uint32_t magic = kMagic;
    uint16_t version = kProtocolVersion;
    uint64_t node_id = 0;
    std::string name;
    std::array<uint8_t, kNonceBytes> nonce{};
    uint32_t max_frame = kDefaultMaxFrame;
    uint32_t peer_timeout_ms = 0;
};

struct AuthFrame {
    std::array<uint8_t, kMacBytes> mac{};
};

// The accepting side's answer to the dialer's AUTH: kStatusOk or kStatusNok.
struct StatusFrame {
    uint8_t status = kStatusOk;
};

struct PeerAddress {
    uint64_t node_id = 0;
    std::string host;
    uint16_t port = 0;
};

struct InfoFrame {
    std::string listen_host;
    uint16_t listen_port = 0;
    std::vector<std::string> attributes;
    std::vector<PeerAddress> peers;
};

// One MESSAGE frame: a whole message or one chunk of it. data points into
// the decoded bytes.
struct MessageFrame {
    uint64_t from = 0, to = 0;
    int64_t tag = 0;
    uint8_t flags = kChunkFirst | kChunkLast;
    uint64_t total = 0;  // first chunk only
    std::string_view data;
};

// LINK, UNLINK, MONITOR, DEMONITOR, KILL (tag is 0 for UNLINK and KILL).
struct RelationFrame {
    uint64_t from = 0, to = 0;
    int64_t tag = 0;
};

// EXIT and DOWN (tag is 0 for EXIT). reason is a valid ExitReason.
struct ExitFrame {
    uint64_t from = 0, to = 0;
    int64_t tag = 0;
    uint32_t reason = 0;
    std::string text;
};

struct SpawnConfigFields {
    uint64_t max_memory = 0;
    uint64_t max_fuel_us = 0;
    bool can_spawn_processes = false;
    bool can_create_configs = false;
    uint64_t stack_size = 0;  // at most 4 GiB
    bool guard_page = false;
};

constexpr uint32_t kSpawnLink = 1;
// The capture did not fit in the SPAWN frame: it was sent just before, from
// the same sender, as a (possibly chunked) MESSAGE to kSpawnCaptureTo with
// the spawn's reply_tag as its tag; the SPAWN frame's own capture is empty.
constexpr uint32_t kSpawnCaptureSent = 2;
constexpr uint64_t kSpawnCaptureTo = 0;  // no process has id 0

// SPAWN. capture points into the decoded bytes.
struct SpawnFrame {
    uint64_t from = 0;
    int64_t reply_tag = 0;
    std::string entry;
    uint32_t flags = 0;  // kSpawnLink
    int64_t link_tag = 0;
    bool has_config = false;
    SpawnConfigFields config;
    std::string_view capture;
};

// SPAWN_REPLY and LOOKUP_REPLY. reply_tag < 0, status a core Status.
struct ReplyFrame {
    uint64_t to = 0;
    int64_t reply_tag = 0;
    int32_t status = 0;
    uint64_t pid_node = 0, pid_id = 0;
    std::string detail;
};

struct LookupFrame {
    uint64_t from = 0;
    int64_t reply_tag = 0;
    std::string name;
    std::string type;
};

struct PeerUpFrame {
    PeerAddress peer;
};

// What decode(HelloFrame) returns for a version it does not speak (the
// caller may say which one).
// An array, not a pointer to a literal: callers compare the address, and one
// inline array has one address in every translation unit (copies of a literal
// need not; AddressSanitizer builds keep them apart).
inline constexpr char kWhyOtherVersion[] = "another protocol version";

// ---- decoding: body is the frame after its type byte. nullptr on success,
// else what is wrong (for the log). *out is unspecified after an error.

const char *decode(const uint8_t *body, std::size_t n, HelloFrame *out);
const char *decode(const uint8_t *body, std::size_t n, AuthFrame *out);
const char *decode(const uint8_t *body, std::size_t n, StatusFrame *out);
const char *decode(const uint8_t *body, std::size_t n, InfoFrame *out);
const char *decode(const uint8_t *body, std::size_t n, MessageFrame *out);
const char *decode_heartbeat(const uint8_t *body, std::size_t n);
const char *decode(FrameType type, const uint8_t *body, std::size_t n, RelationFrame *out);
const char *decode(FrameType type, const uint8_t *body, std::size_t n, ExitFrame *out);
const char *decode(const uint8_t *body, std::size_t n, SpawnFrame *out);
const char *decode(const uint8_t *body, std::size_t n, ReplyFrame *out);
const char *decode(const uint8_t *body, std::size_t n, LookupFrame *out);
const char *decode(const uint8_t *body, std::size_t n, PeerUpFrame *out);

// ---- encoding: appends one whole frame (length, type, body) to out.
// Strings longer than the decoder's limit are cut to it.

void append_frame(std::string &out, const HelloFrame &f);
void append_frame(std::string &out, const AuthFrame &f);
void append_frame(std::string &out, const StatusFrame &f);
void append_frame(std::string &out, const InfoFrame &f);
void append_frame(std::string &out, const MessageFrame &f);
void append_heartbeat(std::string &out);
void append_frame(std::string &out, FrameType type, const RelationFrame &f);
void append_frame(std::string &out, FrameType type, const ExitFrame &f);
void append_frame(std::string &out, const SpawnFrame &f);
void append_frame(std::string &out, FrameType type, const ReplyFrame &f);
void append_frame(std::string &out, const LookupFrame &f);
void append_frame(std::string &out, const PeerUpFrame &f);

template <class... Args>
std::string make_frame(const Args &...args) {
    std::string out;
    append_frame(out, args...);
    return out;
}

// ---- chunk reassembly, as a pure decision: what a MESSAGE frame does to
// the message its sender has open (if any). The caller keeps the bytes.

struct OpenMessage {
    uint64_t to = 0;
    uint64_t total = 0;
    uint64_t received = 0;
};

struct ChunkStep {
    enum Kind {
        deliver,  // a whole message in this frame
        begin,    // first chunk of a longer message: open one (total, to)
        append,   // a middle chunk: add data to the open message
        finish,   // the last chunk: add data, deliver, close
        error,
    } kind = error;
    const char *why = nullptr;  // error
};

// open: the sender's open message, nullptr if none.
ChunkStep chunk_step(const OpenMessage *open, const MessageFrame &f) noexcept;

}  // namespace lunatic::core::node
