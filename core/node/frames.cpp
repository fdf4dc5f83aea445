#include "core/node/frames.hpp"

#include <algorithm>
#include <cstring>

#include "core/message.hpp"  // ExitReason
#include "core/status.hpp"

namespace lunatic::core::node {

FrameSplit split_frame(const uint8_t *p, std::size_t n, uint32_t limit) noexcept {
    FrameSplit s;
    if (n < 4) return s;
    const uint32_t len =
        uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    s.length = len;
    if (len == 0 || len > limit)
        s.kind = FrameSplit::error;
    else if (n - 4 >= len)
        s.kind = FrameSplit::frame;
    return s;
}

namespace {

bool valid_reason(uint32_t reason) { return reason <= uint32_t(ExitReason::fuel_exhausted); }

// Keeps a string within the limit its decoder enforces.
std::string_view capped(std::string_view s, std::size_t max) { return s.substr(0, max); }

template <class Body>
void put_frame(std::string &out, FrameType type, Body &&body) {
    const std::size_t at = begin_frame(out, type);
    ByteWriter w(out);
    body(w);
    finish_frame(out, at);
}

}  // namespace

// ------------------------------------------------------------------ decoding

const char *decode(const uint8_t *body, std::size_t n, HelloFrame *out) {
    ByteReader r(body, n);
    out->magic = r.u32();
    if (!r.ok() || out->magic != kMagic) return "not a lunatic node (bad magic)";
    out->version = r.u16();
    if (!r.ok()) return "a malformed hello";
    if (out->version != kProtocolVersion) return kWhyOtherVersion;
    out->node_id = r.u64();
    out->name = r.str(kMaxName);
    const uint8_t *nonce = r.bytes(kNonceBytes);
    out->max_frame = r.u32();
    out->peer_timeout_ms = r.u32();
    if (!r.ok() || !r.at_end()) return "a malformed hello";
    std::memcpy(out->nonce.data(), nonce, kNonceBytes);
    if (out->node_id == 0) return "a hello with a bad node id";
    if (out->max_frame < kMinMaxFrame) return "a hello with a too small max frame";
    if (out->peer_timeout_ms < 3) return "a hello with a too small peer timeout";
    return nullptr;
}

const char *decode(const uint8_t *body, std::size_t n, AuthFrame *out) {
    ByteReader r(body, n);
    const uint8_t *mac = r.bytes(kMacBytes);
    if (!r.ok() || !r.at_end()) return "a malformed auth frame";
    std::memcpy(out->mac.data(), mac, kMacBytes);
    return nullptr;
}

const char *decode(const uint8_t *body, std::size_t n, StatusFrame *out) {
    ByteReader r(body, n);
    out->status = r.u8();
    if (!r.ok() || !r.at_end() || out->status > kStatusNok) return "a malformed status frame";
    return nullptr;
}

const char *decode(const uint8_t *body, std::size_t n, InfoFrame *out) {
    ByteReader r(body, n);
    out->listen_host = r.str(kMaxName);
    out->listen_port = r.u16();
    const uint32_t nattr = r.u32();
    if (!r.ok() || nattr > kMaxAttributes) return "a malformed info frame";
    out->attributes.clear();
    // Each entry is at least 4 bytes, so a lying count stops at the frame's end.
    for (uint32_t i = 0; i < nattr && r.ok(); ++i) out->attributes.push_back(r.str(kMaxString));
    const uint32_t npeers = r.u32();
    if (!r.ok() || npeers > kMaxPeers) return "a malformed info frame";
    out->peers.clear();
    for (uint32_t i = 0; i < npeers && r.ok(); ++i) {
        PeerAddress a;
        a.node_id = r.u64();
        a.host = r.str(kMaxName);
        a.port = r.u16();
        if (r.ok()) out->peers.push_back(std::move(a));
    }
    if (!r.ok() || !r.at_end()) return "a malformed info frame";
    return nullptr;
}

const char *decode(const uint8_t *body, std::size_t n, MessageFrame *out) {
    ByteReader r(body, n);
    out->from = r.u64();
    out->to = r.u64();
    out->tag = r.i64();
    out->flags = r.u8();
    out->total = (out->flags & kChunkFirst) ? r.u64() : 0;
    out->data = r.rest();
    if (!r.ok() || (out->flags & ~(kChunkFirst | kChunkLast))) return "a malformed message frame";
    return nullptr;
}

const char *decode_heartbeat(const uint8_t *, std::size_t n) {
    return n == 0 ? nullptr : "a malformed heartbeat";
}

const char *decode(FrameType type, const uint8_t *body, std::size_t n, RelationFrame *out) {
    ByteReader r(body, n);
    out->from = r.u64();
    out->to = r.u64();
    const bool tagged =
        type == FrameType::link || type == FrameType::monitor || type == FrameType::demonitor;
    out->tag = tagged ? r.i64() : 0;
    if (!r.ok() || !r.at_end()) switch (type) {
        case FrameType::link:
            return "a malformed link frame";
        case FrameType::unlink:
            return "a malformed unlink frame";
        case FrameType::monitor:
            return "a malformed monitor frame";
        case FrameType::demonitor:
            return "a malformed demonitor frame";
        default:
            return "a malformed kill frame";
        }
    return nullptr;
}

const char *decode(FrameType type, const uint8_t *body, std::size_t n, ExitFrame *out) {
    ByteReader r(body, n);
    out->from = r.u64();
    out->to = r.u64();
    out->tag = type == FrameType::down ? r.i64() : 0;
    out->reason = r.u32();
    out->text = r.str(kMaxString);
    if (!r.ok() || !r.at_end() || !valid_reason(out->reason))
        return type == FrameType::down ? "a malformed down frame" : "a malformed exit frame";
    return nullptr;
}

const char *decode(const uint8_t *body, std::size_t n, SpawnFrame *out) {
    ByteReader r(body, n);
    out->from = r.u64();
    out->reply_tag = r.i64();
    out->entry = r.str(kMaxString);
    out->flags = r.u32();
    out->link_tag = r.i64();
    out->has_config = r.u8() != 0;
    out->config = SpawnConfigFields{};
    if (out->has_config) {
        SpawnConfigFields &c = out->config;
        c.max_memory = r.u64();
        c.max_fuel_us = r.u64();
        c.can_spawn_processes = r.u8() != 0;
        c.can_create_configs = r.u8() != 0;
        c.stack_size = r.u64();
        c.guard_page = r.u8() != 0;
    }
    const uint32_t capture_len = r.u32();
    const uint8_t *capture = r.bytes(capture_len);
    if (!r.ok() || !r.at_end() || (out->flags & ~(kSpawnLink | kSpawnCaptureSent)) ||
        ((out->flags & kSpawnCaptureSent) && capture_len) ||
        out->config.stack_size > (uint64_t(1) << 32))
        return "a malformed spawn frame";
    out->capture = std::string_view(reinterpret_cast<const char *>(capture), capture_len);
    return nullptr;
}

const char *decode(const uint8_t *body, std::size_t n, ReplyFrame *out) {
    ByteReader r(body, n);
    out->to = r.u64();
    out->reply_tag = r.i64();
    out->status = r.i32();
    out->pid_node = r.u64();
    out->pid_id = r.u64();
    out->detail = r.str(kMaxString);
    if (!r.ok() || !r.at_end() || out->reply_tag >= 0 || out->status > 0 ||
        out->status < int32_t(Status::internal))
        return "a malformed reply frame";
    return nullptr;
}

const char *decode(const uint8_t *body, std::size_t n, LookupFrame *out) {
    ByteReader r(body, n);
    out->from = r.u64();
    out->reply_tag = r.i64();
    out->name = r.str(kMaxString);
    out->type = r.str(kMaxString);
    if (!r.ok() || !r.at_end()) return "a malformed lookup frame";
    return nullptr;
}

const char *decode(const uint8_t *body, std::size_t n, PeerUpFrame *out) {
    ByteReader r(body, n);
    out->peer.node_id = r.u64();
    out->peer.host = r.str(kMaxName);
    out->peer.port = r.u16();
    if (!r.ok() || !r.at_end()) return "a malformed peer_up frame";
    return nullptr;
}

// ------------------------------------------------------------------ encoding

void append_frame(std::string &out, const HelloFrame &f) {
    put_frame(out, FrameType::hello, [&](ByteWriter &w) {
        w.u32(f.magic);
        w.u16(f.version);
        w.u64(f.node_id);
        w.str(capped(f.name, kMaxName));
        w.bytes(f.nonce.data(), f.nonce.size());
        w.u32(f.max_frame);
        w.u32(f.peer_timeout_ms);
    });
}

void append_frame(std::string &out, const AuthFrame &f) {
    put_frame(out, FrameType::auth, [&](ByteWriter &w) { w.bytes(f.mac.data(), f.mac.size()); });
}

void append_frame(std::string &out, const StatusFrame &f) {
    put_frame(out, FrameType::status, [&](ByteWriter &w) { w.u8(f.status); });
}

void append_frame(std::string &out, const InfoFrame &f) {
    put_frame(out, FrameType::info, [&](ByteWriter &w) {
        w.str(capped(f.listen_host, kMaxName));
        w.u16(f.listen_port);
        const uint32_t nattr =
            static_cast<uint32_t>(std::min<std::size_t>(f.attributes.size(), kMaxAttributes));
        w.u32(nattr);
        for (uint32_t i = 0; i < nattr; ++i) w.str(capped(f.attributes[i], kMaxString));
        const uint32_t npeers =
            static_cast<uint32_t>(std::min<std::size_t>(f.peers.size(), kMaxPeers));
        w.u32(npeers);
        for (uint32_t i = 0; i < npeers; ++i) {
            w.u64(f.peers[i].node_id);
            w.str(capped(f.peers[i].host, kMaxName));
            w.u16(f.peers[i].port);
        }
    });
}

void append_frame(std::string &out, const MessageFrame &f) {
    put_frame(out, FrameType::message, [&](ByteWriter &w) {
        w.u64(f.from);
        w.u64(f.to);
        w.i64(f.tag);
        w.u8(f.flags);
        if (f.flags & kChunkFirst) w.u64(f.total);
        w.bytes(f.data.data(), f.data.size());
    });
}

void append_heartbeat(std::string &out) {
    put_frame(out, FrameType::heartbeat, [](ByteWriter &) {});
}

void append_frame(std::string &out, FrameType type, const RelationFrame &f) {
    put_frame(out, type, [&](ByteWriter &w) {
        w.u64(f.from);
        w.u64(f.to);
        if (type == FrameType::link || type == FrameType::monitor || type == FrameType::demonitor)
            w.i64(f.tag);
    });
}

void append_frame(std::string &out, FrameType type, const ExitFrame &f) {
    put_frame(out, type, [&](ByteWriter &w) {
        w.u64(f.from);
        w.u64(f.to);
        if (type == FrameType::down) w.i64(f.tag);
        w.u32(f.reason);
        w.str(capped(f.text, kMaxString));
    });
}

void append_frame(std::string &out, const SpawnFrame &f) {
    put_frame(out, FrameType::spawn, [&](ByteWriter &w) {
        w.u64(f.from);
        w.i64(f.reply_tag);
        w.str(capped(f.entry, kMaxString));
        w.u32(f.flags);
        w.i64(f.link_tag);
        w.u8(f.has_config ? 1 : 0);
        if (f.has_config) {
            w.u64(f.config.max_memory);
            w.u64(f.config.max_fuel_us);
            w.u8(f.config.can_spawn_processes);
            w.u8(f.config.can_create_configs);
            w.u64(f.config.stack_size);
            w.u8(f.config.guard_page);
        }
        w.str(f.capture);
    });
}

void append_frame(std::string &out, FrameType type, const ReplyFrame &f) {
    put_frame(out, type, [&](ByteWriter &w) {
        w.u64(f.to);
        w.i64(f.reply_tag);
        w.i32(f.status);
        w.u64(f.pid_node);
        w.u64(f.pid_id);
        w.str(capped(f.detail, kMaxString));
    });
}

void append_frame(std::string &out, const LookupFrame &f) {
    put_frame(out, FrameType::lookup, [&](ByteWriter &w) {
        w.u64(f.from);
        w.i64(f.reply_tag);
        w.str(capped(f.name, kMaxString));
        w.str(capped(f.type, kMaxString));
    });
}

void append_frame(std::string &out, const PeerUpFrame &f) {
    put_frame(out, FrameType::peer_up, [&](ByteWriter &w) {
        w.u64(f.peer.node_id);
        w.str(capped(f.peer.host, kMaxName));
        w.u16(f.peer.port);
    });
}

// ---------------------------------------------------------------- reassembly

ChunkStep chunk_step(const OpenMessage *open, const MessageFrame &f) noexcept {
    ChunkStep s;
    const uint64_t size = f.data.size();
    if (f.flags & kChunkFirst) {
        if (open) {
            s.why = "a message began before the last one ended";
        } else if (size > f.total) {
            s.why = "a message longer than it said";
        } else if (f.flags & kChunkLast) {
            if (size != f.total)
                s.why = "a message shorter than it said";
            else
                s.kind = ChunkStep::deliver;
        } else {
            s.kind = ChunkStep::begin;
        }
        return s;
    }
    if (!open) {
        s.why = "a message chunk without its beginning";
    } else if (open->to != f.to || size > open->total - open->received) {
        s.why = "a message chunk that does not fit";
    } else if (f.flags & kChunkLast) {
        if (open->received + size != open->total)
            s.why = "a message shorter than it said";
        else
            s.kind = ChunkStep::finish;
    } else {
        s.kind = ChunkStep::append;
    }
    return s;
}

}  // namespace lunatic::core::node
