#include "core/node/node.hpp"

#include <algorithm>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it
//
#include <sys/socket.h>
#include <boost/asio.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <thread>
#include <unordered_set>

#include "core/entry_registry.hpp"
#include "core/links.hpp"
#include "core/node/auth.hpp"
#include "core/node/wire.hpp"
#include "core/process.hpp"
#include "core/runtime.hpp"

namespace lunatic::core::node {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kDefaultHeartbeatMs = 1000;
constexpr uint32_t kDefaultPeerTimeoutMs = 4000;  // a lost peer is noticed within 4-5 s
constexpr uint32_t kDefaultReconnectMaxMs = 5000;
constexpr uint32_t kFirstRedialMs = 50;
// How much the io thread gathers into one write: big enough that a busy
// connection makes few system calls, small enough that a frame queued behind
// it waits little.
constexpr std::size_t kWriteBatch = 256 * 1024;
// Bytes of a message frame besides the payload: type, from, to, tag, flags, total.
constexpr std::size_t kMessageOverhead = 1 + 8 + 8 + 8 + 1 + 8;
constexpr std::size_t kMaxName = 255;
constexpr std::size_t kMaxString = 4096;

// Replies to remote requests come back as data messages with a reserved
// negative tag, which the waiting process receives selectively.
std::atomic<int64_t> g_next_request{1};
int64_t request_tag() noexcept {
    return -(int64_t(1) << 62) - g_next_request.fetch_add(1, std::memory_order_relaxed);
}

std::string frame(FrameType type, const std::function<void(ByteWriter &)> &body) {
    std::string out;
    std::size_t at = begin_frame(out, type);
    ByteWriter w(out);
    body(w);
    finish_frame(out, at);
    return out;
}

// The payload of a reply message: status, pid, detail.
Message *reply_message(int64_t tag, Status status, Pid pid, const std::string &detail) {
    std::string payload;
    ByteWriter w(payload);
    w.i32(static_cast<int32_t>(status));
    w.u64(pid.node);
    w.u64(pid.id);
    w.str(detail);
    Message *m = Message::create(tag, payload.size());
    if (m) m->append(payload.data(), payload.size());
    return m;
}

void deliver_to(Runtime &rt, Pid to, Message *m) {
    if (!m) return;
    ProcessRef p = rt.lookup(to);
    if (!p || deliver(*p.get(), m) != Status::ok) Message::destroy(m);
}

}  // namespace

// ------------------------------------------------------------------ Node::Impl

struct Node::Impl {
    Impl(Node &n, Runtime &r) : node(n), rt(r), work(asio::make_work_guard(io)), acceptor(io) {}

    Node &node;
    Runtime &rt;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    tcp::acceptor acceptor;
    std::thread thread;
    uint64_t id = 0;
    uint32_t max_frame = kDefaultMaxFrame;
    uint32_t heartbeat_ms = kDefaultHeartbeatMs;
    uint32_t timeout_ms = kDefaultPeerTimeoutMs;
    uint32_t reconnect_max_ms = kDefaultReconnectMaxMs;
    std::string listen_host;
    uint16_t listen_port = 0;
    std::atomic<bool> stopped{false};

    std::mutex mutex;  // peers, and the peers' info fields read by nodes()
    std::unordered_map<uint64_t, std::shared_ptr<Peer>> peers;  // authenticated, by node id

    // io thread only
    std::vector<std::shared_ptr<Peer>> open;                   // every open connection
    std::vector<std::shared_ptr<tcp::socket>> dialing;         // connects in progress
    std::vector<std::shared_ptr<asio::steady_timer>> redials;  // scheduled redials
    std::unordered_set<uint64_t> gossip_dials;                 // nodes being dialled

    std::shared_ptr<Peer> find(uint64_t node_id) {
        std::lock_guard lock(mutex);
        auto it = peers.find(node_id);
        return it == peers.end() ? nullptr : it->second;
    }

    using UpCallback = std::function<void(Status, uint64_t, const std::string &)>;
    void accept();
    void dial(const std::string &host, uint16_t port, UpCallback cb);
    void maybe_dial(uint64_t peer_id, const std::string &host, uint16_t port);
    void schedule_redial(std::string host, uint16_t port, uint64_t old_id, unsigned attempt);
    bool peer_authenticated(const std::shared_ptr<Peer> &peer);
    void peer_closed(const std::shared_ptr<Peer> &peer, bool was_up, const std::string &why);
    void close_all();
};

// ------------------------------------------------------------------------ Peer

class Peer : public std::enable_shared_from_this<Peer> {
public:
    enum class State { handshake, up, closed };

    Peer(Node::Impl &impl, tcp::socket socket, bool outbound, std::string dial_host,
         uint16_t dial_port, Node::Impl::UpCallback cb)
        : impl_(impl),
          socket_(std::move(socket)),
          timer_(impl.io),
          outbound_(outbound),
          dial_host_(std::move(dial_host)),
          dial_port_(dial_port),
          up_cb_(std::move(cb)) {
        boost::system::error_code ec;
        auto ep = socket_.remote_endpoint(ec);
        if (!ec) peer_address_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    }

    ~Peer() {
        for (auto &[key, s] : streams_)
            for (Item &i : s.items)
                if (i.msg) Message::destroy(i.msg);
        for (auto &[from, p] : partial_) Message::destroy(p.message);
    }

    // ---- io thread
    void start();
    void close(const std::string &why);

    // ---- any thread: false once the connection is closed
    bool enqueue_frame(uint64_t stream, std::string bytes) {
        return enqueue(stream, Item{std::move(bytes), nullptr, 0, 0});
    }
    bool enqueue_message(uint64_t stream, uint64_t to, Message *m) {
        return enqueue(stream, Item{{}, m, to, 0});
    }

    struct Pending {
        uint64_t waiter;
        bool link;
        int64_t link_tag;
    };
    bool add_pending(int64_t tag, Pending p) {
        std::lock_guard lock(out_mutex_);
        if (out_closed_) return false;
        pending_[tag] = p;
        return true;
    }
    bool take_pending(int64_t tag, Pending *out) {
        std::lock_guard lock(out_mutex_);
        auto it = pending_.find(tag);
        if (it == pending_.end()) return false;
        if (out) *out = it->second;
        pending_.erase(it);
        return true;
    }

    uint64_t remote_id() const noexcept { return remote_id_; }
    State state() const noexcept { return state_; }
    bool outbound() const noexcept { return outbound_; }
    // Under impl.mutex once up (nodes() reads them from other threads).
    std::string remote_name;
    std::string listen_host;
    uint16_t listen_port = 0;
    std::vector<std::string> attributes;

private:
    struct Item {
        std::string frame;   // a whole frame, or
        Message *msg;        // a message, cut into chunks as it is written
        uint64_t to;         // (message) the receiver's local id
        std::size_t offset;  // (message) bytes already written
    };
    struct Stream {
        std::deque<Item> items;
    };
    struct Partial {
        Message *message;
        uint64_t to;
        uint64_t total;
    };

    bool enqueue(uint64_t stream, Item item);
    void write_more();
    void continue_write();
    void fill_locked();
    void read_more();
    bool parse_frames();
    void note_write() noexcept {
        last_write_.store(SteadyClock::now().time_since_epoch().count(), std::memory_order_relaxed);
    }
    void arm_timer();
    void tick();
    bool handle_frame();
    bool on_hello(ByteReader &r);
    bool on_auth(ByteReader &r);
    bool on_info(ByteReader &r);
    bool on_message(ByteReader &r);
    bool on_spawn(ByteReader &r);
    bool on_lookup(ByteReader &r);
    bool on_reply(ByteReader &r, bool spawn);
    bool protocol_error(const char *what);
    void log(LogLevel level, const char *what, const std::string &detail);
    std::string who() const;

    Node::Impl &impl_;
    tcp::socket socket_;
    asio::steady_timer timer_;
    const bool outbound_;
    const std::string dial_host_;
    const uint16_t dial_port_;
    Node::Impl::UpCallback up_cb_;
    std::string peer_address_;

    State state_ = State::handshake;
    bool got_hello_ = false;
    bool auth_sent_ = false;
    uint64_t remote_id_ = 0;
    uint32_t remote_max_frame_ = kMinMaxFrame;
    uint32_t heartbeat_ms_ = kDefaultHeartbeatMs;  // set from both nodes' settings
    Nonce my_nonce_{};
    Nonce their_nonce_{};
    SteadyClock::time_point created_, last_read_;
    // Written by whichever thread wrote last (see enqueue), read by the io thread.
    std::atomic<SteadyClock::rep> last_write_{0};
    int fd_ = -1;  // the socket's descriptor, for writes from other threads

    // Bytes read and not handled yet: rbuf_[rbegin_, rend_). One read takes
    // whatever has arrived (many small frames per system call).
    std::vector<uint8_t> rbuf_;
    std::size_t rbegin_ = 0, rend_ = 0;
    const uint8_t *frame_ = nullptr;  // the frame being handled (type + body)
    std::size_t frame_len_ = 0;
    std::unordered_map<uint64_t, Partial> partial_;  // by sender

    // The send side, shared with the threads that enqueue. Each sender
    // (stream) has its own FIFO; the writer takes one frame or one chunk from
    // the stream at the front of ready_ and puts the stream back at the end
    // if it has more, so a big message is interleaved with everyone else's
    // frames while one sender's frames keep their order.
    std::mutex out_mutex_;
    std::unordered_map<uint64_t, Stream> streams_;
    std::deque<uint64_t> ready_;
    std::unordered_map<int64_t, Pending> pending_;
    bool writing_ = false;  // a write is under way (wbuf_ belongs to it)
    bool out_closed_ = false;
    std::string wbuf_;
    std::size_t wbuf_off_ = 0;  // what of wbuf_ is written already
    std::size_t chunk_ = kMinMaxFrame - kMessageOverhead;

    friend struct Node::Impl;
};

std::string Peer::who() const {
    std::string s;
    if (!remote_name.empty()) s = "'" + remote_name + "' ";
    if (remote_id_) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "(%llx) ", static_cast<unsigned long long>(remote_id_));
        s += buf;
    }
    s += "at " + (peer_address_.empty() ? std::string("?") : peer_address_);
    return s;
}

void Peer::log(LogLevel level, const char *what, const std::string &detail) {
    impl_.rt.log().write(level, "node '%s': %s %s: %s", impl_.node.options().name.c_str(), what,
                         who().c_str(), detail.c_str());
}

bool Peer::protocol_error(const char *what) {
    log(LogLevel::warning, "closed the connection of", what);
    close(what);
    return false;
}

void Peer::start() {
    created_ = last_read_ = SteadyClock::now();
    note_write();
    fd_ = socket_.native_handle();
    rbuf_.resize(64 * 1024);
    heartbeat_ms_ = impl_.heartbeat_ms;
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);  // small frames go out at once
    if (!random_nonce(my_nonce_)) {
        log(LogLevel::error, "cannot greet", "no random bytes from OpenSSL");
        close("no random bytes");
        return;
    }
    enqueue_frame(0, frame(FrameType::hello, [&](ByteWriter &w) {
                      w.u32(kMagic);
                      w.u16(kProtocolVersion);
                      w.u64(impl_.id);
                      w.str(impl_.node.options().name);
                      w.bytes(my_nonce_.data(), my_nonce_.size());
                      w.u32(impl_.max_frame);
                      w.u32(impl_.timeout_ms);
                  }));
    read_more();
    arm_timer();
}

bool Peer::enqueue(uint64_t key, Item item) {
    std::unique_lock lock(out_mutex_);
    if (out_closed_) return false;
    Stream &s = streams_[key];
    if (s.items.empty()) ready_.push_back(key);
    s.items.push_back(std::move(item));
    if (writing_) return true;  // the write under way takes it
    // Nothing is being written: write now, from this thread, without
    // blocking. Waking the io thread for each small frame would cost a thread
    // switch on every send. The lock keeps the descriptor open meanwhile
    // (close() marks out_closed_ under it before closing the socket).
    fill_locked();
    std::size_t done = 0;
    while (done < wbuf_.size()) {
        const ssize_t n =
            ::send(fd_, wbuf_.data() + done, wbuf_.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;  // the socket's buffer is full, or an error: the io thread takes over (and sees it)
    }
    if (done) note_write();
    if (done == wbuf_.size() && ready_.empty()) {
        wbuf_.clear();
        return true;
    }
    wbuf_off_ = done;
    writing_ = true;
    lock.unlock();
    asio::post(impl_.io, [self = shared_from_this()] { self->continue_write(); });
    return true;
}

void Peer::fill_locked() {
    wbuf_.clear();
    while (wbuf_.size() < kWriteBatch && !ready_.empty()) {
        const uint64_t key = ready_.front();
        ready_.pop_front();
        auto it = streams_.find(key);
        Stream &s = it->second;
        Item &item = s.items.front();
        bool done = true;
        if (!item.msg) {
            wbuf_ += item.frame;
        } else {
            Message *m = item.msg;
            const std::size_t size = m->size();
            const std::size_t n = std::min(size - item.offset, chunk_);
            const uint8_t flags = static_cast<uint8_t>((item.offset == 0 ? kChunkFirst : 0) |
                                                       (item.offset + n == size ? kChunkLast : 0));
            std::size_t at = begin_frame(wbuf_, FrameType::message);
            ByteWriter w(wbuf_);
            w.u64(key);
            w.u64(item.to);
            w.i64(m->tag());
            w.u8(flags);
            if (flags & kChunkFirst) w.u64(size);
            if (n) w.bytes(m->data() + item.offset, n);
            finish_frame(wbuf_, at);
            item.offset += n;
            done = item.offset == size;
            if (done) Message::destroy(m);
        }
        if (done) s.items.pop_front();
        if (s.items.empty())
            streams_.erase(it);
        else
            ready_.push_back(key);
    }
}

void Peer::continue_write() {
    if (wbuf_off_ >= wbuf_.size()) {
        write_more();
        return;
    }
    asio::async_write(
        socket_, asio::buffer(wbuf_.data() + wbuf_off_, wbuf_.size() - wbuf_off_),
        [self = shared_from_this()](const boost::system::error_code &ec, std::size_t) {
            if (ec) {
                self->close("write failed: " + ec.message());
                return;
            }
            self->note_write();
            self->write_more();
        });
}

void Peer::write_more() {
    {
        std::lock_guard lock(out_mutex_);
        if (out_closed_ || state_ == State::closed) {
            writing_ = false;
            return;
        }
        fill_locked();
        wbuf_off_ = 0;
        if (wbuf_.empty()) {
            writing_ = false;
            return;
        }
    }
    continue_write();
}

void Peer::read_more() {
    // Room for at least 4 KiB more (or for the rest of the frame under way,
    // which parse_frames has made room for).
    if (rbuf_.size() - rend_ < 4096) {
        if (rbegin_) {
            std::memmove(rbuf_.data(), rbuf_.data() + rbegin_, rend_ - rbegin_);
            rend_ -= rbegin_;
            rbegin_ = 0;
        }
        if (rbuf_.size() - rend_ < 4096) rbuf_.resize(rbuf_.size() + 64 * 1024);
    }
    socket_.async_read_some(
        asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_),
        [self = shared_from_this()](const boost::system::error_code &ec, std::size_t n) {
            if (ec) {
                if (self->state_ != State::closed)
                    self->close(ec == asio::error::eof ? "the peer closed the connection"
                                                       : "read failed: " + ec.message());
                return;
            }
            self->rend_ += n;
            self->last_read_ = SteadyClock::now();
            if (self->parse_frames()) self->read_more();
        });
}

bool Peer::parse_frames() {
    while (rend_ - rbegin_ >= 4) {
        const uint8_t *p = rbuf_.data() + rbegin_;
        const uint32_t len =
            uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
        const uint32_t limit = state_ == State::up ? impl_.max_frame : kHandshakeMaxFrame;
        if (len == 0 || len > limit) {
            char what[128];
            std::snprintf(what, sizeof what,
                          "a frame of %u bytes (the limit is %u, and a frame is never empty)", len,
                          limit);
            return protocol_error(what);
        }
        const std::size_t need = 4 + std::size_t(len);
        if (rend_ - rbegin_ < need) {
            // Incomplete: make room for all of it, then read on.
            if (rbegin_) {
                std::memmove(rbuf_.data(), rbuf_.data() + rbegin_, rend_ - rbegin_);
                rend_ -= rbegin_;
                rbegin_ = 0;
            }
            if (rbuf_.size() < need + 4096) rbuf_.resize(need + 4096);
            return true;
        }
        frame_ = p + 4;
        frame_len_ = len;
        rbegin_ += need;
        if (!handle_frame()) return false;
    }
    if (rbegin_ == rend_) rbegin_ = rend_ = 0;
    return true;
}

void Peer::arm_timer() {
    timer_.expires_after(std::chrono::milliseconds(heartbeat_ms_));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code &ec) {
        if (!ec && self->state_ != State::closed) self->tick();
    });
}

void Peer::tick() {
    const auto now = SteadyClock::now();
    const auto timeout = std::chrono::milliseconds(impl_.timeout_ms);
    if (state_ == State::handshake && now - created_ > timeout) {
        log(LogLevel::warning, "gave up on", "the handshake did not complete in time");
        close("handshake timed out");
        return;
    }
    if (now - last_read_ > timeout) {
        char what[96];
        std::snprintf(what, sizeof what, "nothing heard for %u ms", impl_.timeout_ms);
        close(what);
        return;
    }
    const SteadyClock::time_point last_write{
        SteadyClock::duration(last_write_.load(std::memory_order_relaxed))};
    if (state_ == State::up && now - last_write >= std::chrono::milliseconds(heartbeat_ms_))
        enqueue_frame(0, frame(FrameType::heartbeat, [](ByteWriter &) {}));
    arm_timer();
}

void Peer::close(const std::string &why) {
    if (state_ == State::closed) return;
    const bool was_up = state_ == State::up;
    const bool refused = state_ == State::handshake && auth_sent_;
    state_ = State::closed;
    std::unordered_map<int64_t, Pending> pending;
    {
        // out_closed_ first, under the lock: no other thread writes to the
        // descriptor once the socket is closed below.
        std::lock_guard lock(out_mutex_);
        out_closed_ = true;
        for (auto &[key, s] : streams_)
            for (Item &i : s.items)
                if (i.msg) Message::destroy(i.msg);
        streams_.clear();
        ready_.clear();
        pending.swap(pending_);
    }
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
    for (auto &[from, p] : partial_) Message::destroy(p.message);
    partial_.clear();
    // Processes waiting for an answer from this node hear that it is gone.
    for (auto &[tag, p] : pending)
        deliver_to(impl_.rt, Pid{impl_.id, p.waiter},
                   reply_message(tag, Status::no_node, Pid{}, "the node went down: " + why));
    if (up_cb_) {
        auto cb = std::move(up_cb_);
        up_cb_ = nullptr;
        cb(refused ? Status::not_permitted : Status::no_node, remote_id_,
           refused ? "the node refused the handshake or did not prove the cookie (" + why + ")"
                   : why);
    }
    impl_.peer_closed(shared_from_this(), was_up, why);
}

bool Peer::handle_frame() {
    const auto type = static_cast<FrameType>(frame_[0]);
    ByteReader r(frame_ + 1, frame_len_ - 1);
    if (state_ == State::handshake) {
        if (type == FrameType::hello && !got_hello_) return on_hello(r);
        if (type == FrameType::auth && got_hello_) return on_auth(r);
        return protocol_error("an unexpected frame during the handshake");
    }
    Runtime &rt = impl_.rt;
    const uint64_t me = impl_.id;
    switch (type) {
    case FrameType::info:
        return on_info(r);
    case FrameType::heartbeat:
        return r.at_end() ? true : protocol_error("a malformed heartbeat");
    case FrameType::message:
        return on_message(r);
    case FrameType::link: {
        const uint64_t from = r.u64(), to = r.u64();
        const int64_t tag = r.i64();
        if (!r.ok() || !r.at_end()) return protocol_error("a malformed link frame");
        ProcessRef p = rt.lookup(Pid{me, to});
        if (!p || !add_link_half(*p.get(), Pid{remote_id_, from}, tag))
            enqueue_frame(to, frame(FrameType::exit, [&](ByteWriter &w) {
                              w.u64(to);
                              w.u64(from);
                              w.u32(static_cast<uint32_t>(ExitReason::noproc));
                              w.str("noproc");
                          }));
        return true;
    }
    case FrameType::unlink: {
        const uint64_t from = r.u64(), to = r.u64();
        if (!r.ok() || !r.at_end()) return protocol_error("a malformed unlink frame");
        if (ProcessRef p = rt.lookup(Pid{me, to}))
            remove_link_half(*p.get(), Pid{remote_id_, from});
        return true;
    }
    case FrameType::exit: {
        const uint64_t from = r.u64(), to = r.u64();
        const uint32_t reason = r.u32();
        std::string text = r.str(kMaxString);
        if (!r.ok() || !r.at_end() || reason > uint32_t(ExitReason::fuel_exhausted))
            return protocol_error("a malformed exit frame");
        link_exit_signal(rt, Pid{me, to}, Pid{remote_id_, from}, ExitReason(reason), text);
        return true;
    }
    case FrameType::monitor: {
        const uint64_t from = r.u64(), to = r.u64();
        const int64_t tag = r.i64();
        if (!r.ok() || !r.at_end()) return protocol_error("a malformed monitor frame");
        ProcessRef p = rt.lookup(Pid{me, to});
        if (!p || !add_watcher(*p.get(), Pid{remote_id_, from}, tag))
            enqueue_frame(to, frame(FrameType::down, [&](ByteWriter &w) {
                              w.u64(to);
                              w.u64(from);
                              w.i64(tag);
                              w.u32(static_cast<uint32_t>(ExitReason::noproc));
                              w.str("noproc");
                          }));
        return true;
    }
    case FrameType::demonitor: {
        const uint64_t from = r.u64(), to = r.u64();
        const int64_t tag = r.i64();
        if (!r.ok() || !r.at_end()) return protocol_error("a malformed demonitor frame");
        if (ProcessRef p = rt.lookup(Pid{me, to}))
            remove_watcher(*p.get(), Pid{remote_id_, from}, tag);
        return true;
    }
    case FrameType::down: {
        const uint64_t from = r.u64(), to = r.u64();
        const int64_t tag = r.i64();
        const uint32_t reason = r.u32();
        std::string text = r.str(kMaxString);
        if (!r.ok() || !r.at_end() || reason > uint32_t(ExitReason::fuel_exhausted))
            return protocol_error("a malformed down frame");
        monitor_down_signal(rt, Pid{me, to}, Pid{remote_id_, from}, tag, ExitReason(reason), text);
        return true;
    }
    case FrameType::kill: {
        const uint64_t from = r.u64(), to = r.u64();
        (void)from;
        if (!r.ok() || !r.at_end()) return protocol_error("a malformed kill frame");
        if (ProcessRef p = rt.lookup(Pid{me, to})) core::kill(*p.get());
        return true;
    }
    case FrameType::spawn:
        return on_spawn(r);
    case FrameType::spawn_reply:
        return on_reply(r, true);
    case FrameType::lookup:
        return on_lookup(r);
    case FrameType::lookup_reply:
        return on_reply(r, false);
    case FrameType::peer_up: {
        const uint64_t id = r.u64();
        std::string host = r.str(kMaxName);
        const uint16_t port = r.u16();
        if (!r.ok() || !r.at_end()) return protocol_error("a malformed peer_up frame");
        impl_.maybe_dial(id, host, port);
        return true;
    }
    default:
        return protocol_error("a frame of unknown type");
    }
}

bool Peer::on_hello(ByteReader &r) {
    const uint32_t magic = r.u32();
    const uint16_t version = r.u16();
    if (!r.ok() || magic != kMagic) return protocol_error("not a lunatic node (bad magic)");
    if (version != kProtocolVersion) {
        char what[96];
        std::snprintf(what, sizeof what, "protocol version %u (this node speaks %u)", version,
                      kProtocolVersion);
        return protocol_error(what);
    }
    const uint64_t id = r.u64();
    std::string name = r.str(kMaxName);
    const uint8_t *nonce = r.bytes(kNonceBytes);
    const uint32_t max_frame = r.u32();
    const uint32_t their_timeout = r.u32();
    if (!r.ok() || !r.at_end()) return protocol_error("a malformed hello");
    if (their_timeout < 3) return protocol_error("a hello with a too small peer timeout");
    // Heartbeats often enough for the peer's timeout too, which may be shorter than ours.
    heartbeat_ms_ = std::min(impl_.heartbeat_ms, their_timeout / 3);
    if (id == 0 || id == impl_.id) return protocol_error("a hello with a bad node id");
    if (max_frame < kMinMaxFrame) return protocol_error("a hello with a too small max frame");
    remote_id_ = id;
    remote_name = std::move(name);
    remote_max_frame_ = max_frame;
    chunk_ = std::min<std::size_t>(impl_.max_frame, remote_max_frame_) - kMessageOverhead;
    std::memcpy(their_nonce_.data(), nonce, kNonceBytes);
    got_hello_ = true;
    const Mac mac = auth_mac(impl_.node.options().cookie, their_nonce_, impl_.id, remote_id_);
    enqueue_frame(0,
                  frame(FrameType::auth, [&](ByteWriter &w) { w.bytes(mac.data(), mac.size()); }));
    auth_sent_ = true;
    return true;
}

bool Peer::on_auth(ByteReader &r) {
    const uint8_t *mac = r.bytes(kMacBytes);
    if (!r.ok() || !r.at_end()) return protocol_error("a malformed auth frame");
    if (!mac_equal(auth_mac(impl_.node.options().cookie, my_nonce_, remote_id_, impl_.id), mac)) {
        log(LogLevel::warning, "refused", "it did not prove the cookie (wrong cookie)");
        close("wrong cookie");
        return false;
    }
    state_ = State::up;
    return impl_.peer_authenticated(shared_from_this());
}

bool Peer::on_info(ByteReader &r) {
    std::string host = r.str(kMaxName);
    const uint16_t port = r.u16();
    const uint32_t nattr = r.u32();
    if (!r.ok() || nattr > 1024) return protocol_error("a malformed info frame");
    std::vector<std::string> attrs;
    for (uint32_t i = 0; i < nattr && r.ok(); ++i) attrs.push_back(r.str(kMaxString));
    const uint32_t npeers = r.u32();
    if (!r.ok() || npeers > 65536) return protocol_error("a malformed info frame");
    struct Known {
        uint64_t id;
        std::string host;
        uint16_t port;
    };
    std::vector<Known> known;
    for (uint32_t i = 0; i < npeers && r.ok(); ++i) {
        Known k;
        k.id = r.u64();
        k.host = r.str(kMaxName);
        k.port = r.u16();
        known.push_back(std::move(k));
    }
    if (!r.ok() || !r.at_end()) return protocol_error("a malformed info frame");
    std::vector<std::shared_ptr<Peer>> others;
    {
        std::lock_guard lock(impl_.mutex);
        listen_host = host;
        listen_port = port;
        attributes = std::move(attrs);
        for (auto &[oid, o] : impl_.peers)
            if (oid != remote_id_) others.push_back(o);
    }
    // The other peers hear of this node now that its address is known; of
    // each pair, the node with the smaller id dials (maybe_dial).
    if (port)
        for (auto &o : others)
            o->enqueue_frame(0, frame(FrameType::peer_up, [&](ByteWriter &w) {
                                 w.u64(remote_id_);
                                 w.str(host);
                                 w.u16(port);
                             }));
    for (const Known &k : known) impl_.maybe_dial(k.id, k.host, k.port);
    return true;
}

bool Peer::on_message(ByteReader &r) {
    const uint64_t from = r.u64(), to = r.u64();
    const int64_t tag = r.i64();
    const uint8_t flags = r.u8();
    const uint64_t total = (flags & kChunkFirst) ? r.u64() : 0;
    const std::string_view data = r.rest();
    if (!r.ok() || (flags & ~(kChunkFirst | kChunkLast)))
        return protocol_error("a malformed message frame");
    Runtime &rt = impl_.rt;
    auto it = partial_.find(from);
    if (flags & kChunkFirst) {
        if (it != partial_.end())
            return protocol_error("a message began before the last one ended");
        if (data.size() > total) return protocol_error("a message longer than it said");
        if ((flags & kChunkLast) && data.size() != total)
            return protocol_error("a message shorter than it said");
        // Reserve no more than a chunk's worth up front: a peer's claimed total
        // costs nothing until the bytes arrive.
        Message *m = Message::create(tag, std::min<uint64_t>(total, 1u << 20));
        if (!m || !m->append(data.data(), data.size())) {
            if (m) Message::destroy(m);
            rt.log().write(LogLevel::error, "node: out of memory for a message from node %llx",
                           static_cast<unsigned long long>(remote_id_));
            return flags & kChunkLast ? true : protocol_error("out of memory");
        }
        m->set_sender(Pid{remote_id_, from});
        if (flags & kChunkLast) {
            deliver_to(rt, Pid{impl_.id, to}, m);
            return true;
        }
        partial_.emplace(from, Partial{m, to, total});
        return true;
    }
    if (it == partial_.end()) return protocol_error("a message chunk without its beginning");
    Partial &p = it->second;
    if (p.message->size() + data.size() > p.total || p.to != to)
        return protocol_error("a message chunk that does not fit");
    if (!p.message->append(data.data(), data.size())) return protocol_error("out of memory");
    if (flags & kChunkLast) {
        if (p.message->size() != p.total) return protocol_error("a message shorter than it said");
        Message *m = p.message;
        partial_.erase(it);
        deliver_to(rt, Pid{impl_.id, to}, m);
    }
    return true;
}

namespace {
struct SpawnReplyHook {
    Peer *peer;
    uint64_t to;
    int64_t tag;
    uint64_t node;
};
}  // namespace

bool Peer::on_spawn(ByteReader &r) {
    const uint64_t from = r.u64();
    const int64_t tag = r.i64();
    std::string entry_name = r.str(kMaxString);
    const uint32_t flags = r.u32();
    const int64_t link_tag = r.i64();
    const uint8_t has_config = r.u8();
    ProcessConfig config;
    if (has_config) {
        config.max_memory = r.u64();
        config.max_fuel_us = r.u64();
        config.can_spawn_processes = r.u8() != 0;
        config.can_create_configs = r.u8() != 0;
        config.stack_size = r.u64();
        config.guard_page = r.u8() != 0;
    }
    std::string capture = r.str(impl_.max_frame);
    if (!r.ok() || !r.at_end() || (flags & ~1u) || config.stack_size > (uint64_t(1) << 32))
        return protocol_error("a malformed spawn frame");
    auto send_reply = [&](Status s, Pid pid, const std::string &detail) {
        enqueue_frame(0, frame(FrameType::spawn_reply, [&](ByteWriter &w) {
                          w.u64(from);
                          w.i64(tag);
                          w.i32(static_cast<int32_t>(s));
                          w.u64(pid.node);
                          w.u64(pid.id);
                          w.str(detail);
                      }));
    };
    Entry entry = nullptr;
    if (EntryRegistry::global().find(entry_name, &entry) != Status::ok) {
        send_reply(Status::not_found, Pid{},
                   "no entry is registered as '" + entry_name + "' on node '" +
                       impl_.node.options().name + "'");
        return true;
    }
    SpawnRequest request;
    request.entry = entry;
    request.capture = capture.data();
    request.capture_len = capture.size();
    if (has_config) request.config = std::make_shared<const ProcessConfig>(config);
    if (flags & 1u) {
        request.remote_link = Pid{remote_id_, from};
        request.link_tag = link_tag;
    }
    // The reply is queued before the child can run, so it leaves ahead of
    // anything the child sends (its exit signal included).
    SpawnReplyHook hook{this, from, tag, impl_.id};
    request.before_start_ctx = &hook;
    request.before_start = [](void *ctx, Pid child) {
        auto *h = static_cast<SpawnReplyHook *>(ctx);
        h->peer->enqueue_frame(0, frame(FrameType::spawn_reply, [&](ByteWriter &w) {
                                   w.u64(h->to);
                                   w.i64(h->tag);
                                   w.i32(0);
                                   w.u64(child.node);
                                   w.u64(child.id);
                                   w.str("");
                               }));
    };
    Pid child{};
    const Status s = impl_.rt.spawn(request, &child);
    if (s != Status::ok)
        send_reply(s, Pid{},
                   s == Status::killed ? std::string("the node is stopping")
                                       : std::string("the spawn failed on node '") +
                                             impl_.node.options().name + "'");
    return true;
}

bool Peer::on_lookup(ByteReader &r) {
    const uint64_t from = r.u64();
    const int64_t tag = r.i64();
    std::string name = r.str(kMaxString);
    std::string type = r.str(kMaxString);
    if (!r.ok() || !r.at_end()) return protocol_error("a malformed lookup frame");
    Pid pid{};
    const Status s = impl_.rt.registry().find(Registry::key(name, type), &pid);
    enqueue_frame(0, frame(FrameType::lookup_reply, [&](ByteWriter &w) {
                      w.u64(from);
                      w.i64(tag);
                      w.i32(static_cast<int32_t>(s == Status::ok ? Status::ok : Status::not_found));
                      w.u64(pid.node);
                      w.u64(pid.id);
                      w.str("");
                  }));
    return true;
}

bool Peer::on_reply(ByteReader &r, bool spawn) {
    const uint64_t to = r.u64();
    const int64_t tag = r.i64();
    const int32_t status = r.i32();
    const uint64_t pid_node = r.u64(), pid_id = r.u64();
    std::string detail = r.str(kMaxString);
    if (!r.ok() || !r.at_end() || tag >= 0 || status > 0 || status < int32_t(Status::internal))
        return protocol_error("a malformed reply frame");
    Runtime &rt = impl_.rt;
    const Pid waiter{impl_.id, to};
    Pending pending{};
    if (!take_pending(tag, &pending) || pending.waiter != to) {
        // The waiter gave up (timed out or was killed): a child spawned with a
        // link must not keep a half pointing at it.
        if (spawn && status == 0)
            enqueue_frame(to, frame(FrameType::unlink, [&](ByteWriter &w) {
                              w.u64(to);
                              w.u64(pid_id);
                          }));
        return true;
    }
    const Pid child{pid_node, pid_id};
    if (spawn && status == 0 && pending.link) {
        // The spawner's half of the link is made here, before anything the
        // child sends after this reply is read.
        ProcessRef w = rt.lookup(waiter);
        if (!w || !add_link_half(*w.get(), child, pending.link_tag))
            enqueue_frame(to, frame(FrameType::exit, [&](ByteWriter &w2) {
                              w2.u64(to);
                              w2.u64(pid_id);
                              w2.u32(static_cast<uint32_t>(ExitReason::noproc));
                              w2.str("noproc");
                          }));
    }
    deliver_to(rt, waiter, reply_message(tag, Status(status), child, detail));
    return true;
}

// ------------------------------------------------------------ Node::Impl (io)

void Node::Impl::accept() {
    acceptor.async_accept([this](const boost::system::error_code &ec, tcp::socket socket) {
        if (stopped.load()) return;
        if (ec) {
            if (ec == asio::error::operation_aborted) return;
            rt.log().write(LogLevel::warning, "node '%s': accept failed: %s",
                           node.options().name.c_str(), ec.message().c_str());
        } else {
            auto peer = std::make_shared<Peer>(*this, std::move(socket), false, "", 0, nullptr);
            open.push_back(peer);
            peer->start();
        }
        accept();
    });
}

void Node::Impl::dial(const std::string &host, uint16_t port, UpCallback cb) {
    if (stopped.load()) {
        if (cb) cb(Status::no_node, 0, "the node is stopping");
        return;
    }
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) {
        // Names are resolved here, on the io thread: nodes are addressed by IP
        // in practice, and a blocking resolve of a name is rare and short.
        tcp::resolver resolver(io);
        auto results = resolver.resolve(host, std::to_string(port), ec);
        if (ec || results.empty()) {
            if (cb) cb(Status::no_node, 0, "cannot resolve '" + host + "': " + ec.message());
            return;
        }
        address = results.begin()->endpoint().address();
    }
    auto socket = std::make_shared<tcp::socket>(io);
    dialing.push_back(socket);
    socket->async_connect(tcp::endpoint(address, port), [this, socket, host, port,
                                                         cb = std::move(cb)](
                                                            const boost::system::error_code &ec2) {
        dialing.erase(std::remove(dialing.begin(), dialing.end(), socket), dialing.end());
        if (stopped.load()) {
            if (cb) cb(Status::no_node, 0, "the node is stopping");
            return;
        }
        if (ec2) {
            if (cb)
                cb(Status::no_node, 0,
                   "cannot connect to " + host + ":" + std::to_string(port) + ": " + ec2.message());
            return;
        }
        auto peer = std::make_shared<Peer>(*this, std::move(*socket), true, host, port, cb);
        open.push_back(peer);
        peer->start();
    });
}

void Node::Impl::maybe_dial(uint64_t peer_id, const std::string &host, uint16_t port) {
    // Of two nodes that learn of each other, the one with the smaller id
    // dials, so they do not open two connections at once.
    if (stopped.load() || peer_id == id || peer_id < id || port == 0) return;
    if (find(peer_id)) return;
    for (const auto &p : open)
        if (p->remote_id() == peer_id) return;
    if (!gossip_dials.insert(peer_id).second) return;  // dialling it already
    dial(host, port,
         [this, peer_id](Status, uint64_t, const std::string &) { gossip_dials.erase(peer_id); });
}

void Node::Impl::schedule_redial(std::string host, uint16_t port, uint64_t old_id,
                                 unsigned attempt) {
    if (stopped.load()) return;
    const uint64_t delay =
        std::min<uint64_t>(uint64_t(kFirstRedialMs) << std::min(attempt, 16u), reconnect_max_ms);
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(delay));
    redials.push_back(timer);
    timer->async_wait(
        [this, timer, host, port, old_id, attempt](const boost::system::error_code &ec) {
            redials.erase(std::remove(redials.begin(), redials.end(), timer), redials.end());
            if (ec || stopped.load() || find(old_id)) return;
            dial(host, port,
                 [this, host, port, old_id, attempt](Status s, uint64_t, const std::string &) {
                     if (s != Status::ok) schedule_redial(host, port, old_id, attempt + 1);
                 });
        });
}

bool Node::Impl::peer_authenticated(const std::shared_ptr<Peer> &peer) {
    const uint64_t pid = peer->remote_id();
    struct Known {
        uint64_t id;
        std::string host;
        uint16_t port;
    };
    std::vector<Known> known;
    bool inserted;
    {
        std::lock_guard lock(mutex);
        inserted = peers.emplace(pid, peer).second;
        if (inserted) {
            for (auto &[oid, o] : peers) {
                if (oid == pid) continue;
                if (o->listen_port) known.push_back(Known{oid, o->listen_host, o->listen_port});
            }
            if (peer->outbound()) {
                // What it was dialled at is where it listens, until its info says otherwise.
                peer->listen_host = peer->dial_host_;
                peer->listen_port = peer->dial_port_;
            }
        }
    }
    if (!inserted) {
        // Already connected to that node: the older connection stays.
        if (peer->up_cb_) {
            auto cb = std::move(peer->up_cb_);
            peer->up_cb_ = nullptr;
            cb(Status::ok, pid, "");
        }
        peer->close("a duplicate connection");
        return false;
    }
    peer->enqueue_frame(0, frame(FrameType::info, [&](ByteWriter &w) {
                            w.str(listen_host);
                            w.u16(listen_port);
                            w.u32(static_cast<uint32_t>(node.options().attributes.size()));
                            for (const auto &a : node.options().attributes) w.str(a);
                            w.u32(static_cast<uint32_t>(known.size()));
                            for (const Known &k : known) {
                                w.u64(k.id);
                                w.str(k.host);
                                w.u16(k.port);
                            }
                        }));
    rt.log().write(LogLevel::info, "node '%s': connected to node '%s' (%llx)",
                   node.options().name.c_str(), peer->remote_name.c_str(),
                   static_cast<unsigned long long>(pid));
    if (peer->up_cb_) {
        auto cb = std::move(peer->up_cb_);
        peer->up_cb_ = nullptr;
        cb(Status::ok, pid, "");
    }
    return true;
}

void Node::Impl::peer_closed(const std::shared_ptr<Peer> &peer, bool was_up,
                             const std::string &why) {
    open.erase(std::remove(open.begin(), open.end(), peer), open.end());
    if (!was_up) return;
    std::string host;
    uint16_t port = 0;
    {
        std::lock_guard lock(mutex);
        auto it = peers.find(peer->remote_id());
        if (it == peers.end() || it->second != peer) return;  // a duplicate went
        peers.erase(it);
        host = peer->listen_host;
        port = peer->listen_port;
    }
    if (stopped.load()) return;
    rt.log().write(LogLevel::warning, "node '%s': lost node '%s' (%llx): %s",
                   node.options().name.c_str(), peer->remote_name.c_str(),
                   static_cast<unsigned long long>(peer->remote_id()), why.c_str());
    node_down_signals(rt, peer->remote_id());
    if (port && id < peer->remote_id()) schedule_redial(host, port, peer->remote_id(), 0);
}

void Node::Impl::close_all() {
    boost::system::error_code ec;
    acceptor.close(ec);
    for (auto &s : std::vector<std::shared_ptr<tcp::socket>>(dialing)) s->close(ec);
    for (auto &t : std::vector<std::shared_ptr<asio::steady_timer>>(redials)) t->cancel();
    for (auto &p : std::vector<std::shared_ptr<Peer>>(open)) p->close("the node stopped");
}

// ------------------------------------------------------------------------ Node

Node::Node(Runtime &rt, NodeOptions options)
    : impl_(std::make_unique<Impl>(*this, rt)), rt_(rt), options_(std::move(options)) {
    impl_->id = rt.node_id();
    if (options_.max_frame_bytes) impl_->max_frame = options_.max_frame_bytes;
    if (options_.heartbeat_ms) impl_->heartbeat_ms = options_.heartbeat_ms;
    if (options_.peer_timeout_ms) impl_->timeout_ms = options_.peer_timeout_ms;
    if (options_.reconnect_max_ms) impl_->reconnect_max_ms = options_.reconnect_max_ms;
}

Node::~Node() { stop(); }

uint64_t Node::id() const noexcept { return impl_->id; }

Status Node::listen(uint16_t *out_port, std::string *error) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(options_.listen_host, ec);
    if (ec) {
        *error = "'" + options_.listen_host + "' is not an IP address";
        return Status::invalid_argument;
    }
    tcp::endpoint endpoint(address, options_.listen_port);
    auto &a = impl_->acceptor;
    a.open(endpoint.protocol(), ec);
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        *error = "cannot listen on " + options_.listen_host + ":" +
                 std::to_string(options_.listen_port) + ": " + ec.message();
        return Status::exists;
    }
    impl_->listen_host = options_.listen_host;
    impl_->listen_port = a.local_endpoint().port();
    if (out_port) *out_port = impl_->listen_port;
    impl_->accept();
    impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
    return Status::ok;
}

void Node::stop() noexcept {
    Impl &impl = *impl_;
    if (impl.stopped.exchange(true)) return;
    if (!impl.thread.joinable()) return;
    asio::post(impl.io, [&impl] { impl.close_all(); });
    impl.work.reset();
    impl.thread.join();
    // Anything posted after the loop ended (a send racing with the stop) is
    // dropped with the io_context; its handlers only hold the peers.
    std::lock_guard lock(impl.mutex);
    impl.peers.clear();
}

Status Node::connect(const std::string &host, uint16_t port, int64_t timeout_ns, uint64_t *out_id,
                     std::string *error) {
    struct Wait {
        std::mutex mutex;
        std::condition_variable cv;
        bool done = false;
        Status status = Status::ok;
        uint64_t id = 0;
        std::string detail;
    };
    auto wait = std::make_shared<Wait>();
    if (impl_->stopped.load()) return Status::no_node;
    asio::post(impl_->io, [this, host, port, wait] {
        impl_->dial(host, port, [wait](Status s, uint64_t id, const std::string &detail) {
            std::lock_guard lock(wait->mutex);
            if (wait->done) return;
            wait->done = true;
            wait->status = s;
            wait->id = id;
            wait->detail = detail;
            wait->cv.notify_all();
        });
    });
    std::unique_lock lock(wait->mutex);
    auto ready = [&] { return wait->done; };
    if (timeout_ns < 0)
        wait->cv.wait(lock, ready);
    else if (!wait->cv.wait_for(lock, std::chrono::nanoseconds(timeout_ns), ready)) {
        *error = "no answer from " + host + ":" + std::to_string(port) + " in time";
        return Status::timed_out;
    }
    if (wait->status != Status::ok) {
        *error = wait->detail;
        return wait->status;
    }
    if (out_id) *out_id = wait->id;
    return Status::ok;
}

std::vector<NodeInfo> Node::nodes() {
    std::vector<NodeInfo> out;
    std::lock_guard lock(impl_->mutex);
    for (auto &[id, p] : impl_->peers) {
        NodeInfo i;
        i.id = id;
        i.name = p->remote_name;
        if (p->listen_port) i.address = p->listen_host + ":" + std::to_string(p->listen_port);
        i.attributes = p->attributes;
        out.push_back(std::move(i));
    }
    std::sort(out.begin(), out.end(),
              [](const NodeInfo &a, const NodeInfo &b) { return a.name < b.name; });
    return out;
}

bool Node::connected(uint64_t node_id) { return impl_->find(node_id) != nullptr; }

Status Node::send(Pid from, Pid to, Message *message) {
    auto peer = impl_->find(to.node);
    if (!peer) return Status::no_node;
    message->set_sender(from);
    return peer->enqueue_message(from.id, to.id, message) ? Status::ok : Status::no_node;
}

namespace {
Status control(const std::shared_ptr<Peer> &peer, uint64_t stream, std::string bytes) {
    if (!peer) return Status::no_node;
    return peer->enqueue_frame(stream, std::move(bytes)) ? Status::ok : Status::no_node;
}
}  // namespace

Status Node::link(Pid from, Pid to, int64_t tag) {
    return control(impl_->find(to.node), from.id, frame(FrameType::link, [&](ByteWriter &w) {
                       w.u64(from.id);
                       w.u64(to.id);
                       w.i64(tag);
                   }));
}

Status Node::unlink(Pid from, Pid to) {
    return control(impl_->find(to.node), from.id, frame(FrameType::unlink, [&](ByteWriter &w) {
                       w.u64(from.id);
                       w.u64(to.id);
                   }));
}

Status Node::monitor(Pid from, Pid to, int64_t tag) {
    return control(impl_->find(to.node), from.id, frame(FrameType::monitor, [&](ByteWriter &w) {
                       w.u64(from.id);
                       w.u64(to.id);
                       w.i64(tag);
                   }));
}

Status Node::demonitor(Pid from, Pid to, int64_t tag) {
    return control(impl_->find(to.node), from.id, frame(FrameType::demonitor, [&](ByteWriter &w) {
                       w.u64(from.id);
                       w.u64(to.id);
                       w.i64(tag);
                   }));
}

Status Node::kill(Pid from, Pid to) {
    return control(impl_->find(to.node), from.id, frame(FrameType::kill, [&](ByteWriter &w) {
                       w.u64(from.id);
                       w.u64(to.id);
                   }));
}

void Node::link_exit(Pid dead, Pid to, ExitReason reason, const std::string &text) {
    control(impl_->find(to.node), dead.id, frame(FrameType::exit, [&](ByteWriter &w) {
                w.u64(dead.id);
                w.u64(to.id);
                w.u32(static_cast<uint32_t>(reason));
                w.str(text.size() > kMaxString ? text.substr(0, kMaxString) : text);
            }));
}

void Node::monitor_down(Pid dead, Pid watcher, int64_t tag, ExitReason reason,
                        const std::string &text) {
    control(impl_->find(watcher.node), dead.id, frame(FrameType::down, [&](ByteWriter &w) {
                w.u64(dead.id);
                w.u64(watcher.id);
                w.i64(tag);
                w.u32(static_cast<uint32_t>(reason));
                w.str(text.size() > kMaxString ? text.substr(0, kMaxString) : text);
            }));
}

namespace {
// Sends a request frame and waits for its reply message.
Status request(Process &self, const std::shared_ptr<Peer> &peer, int64_t tag, std::string bytes,
               bool link, int64_t link_tag, int64_t timeout_ns, Reply *out) {
    if (!peer) return Status::no_node;
    if (!peer->add_pending(tag, Peer::Pending{self.id, link, link_tag})) return Status::no_node;
    if (!peer->enqueue_frame(self.id, std::move(bytes))) {
        peer->take_pending(tag, nullptr);
        return Status::no_node;
    }
    TagFilter filter;
    filter.tags = &tag;
    filter.count = 1;
    filter.mask = TagFilter::kData;
    Message *m = nullptr;
    const Status s = receive(self, filter, timeout_ns, &m);
    if (s != Status::ok) {
        // Gave up: a reply that comes later is dropped (and an orphaned
        // link half on the other node is undone, see on_reply).
        peer->take_pending(tag, nullptr);
        discard_tag(self, tag);
        return s;
    }
    ByteReader r(m->data(), m->size());
    out->status = static_cast<Status>(r.i32());
    out->pid.node = r.u64();
    out->pid.id = r.u64();
    out->detail = r.str(kMaxString);
    Message::destroy(m);
    return r.ok() ? Status::ok : Status::internal;
}
}  // namespace

Status Node::spawn(Process &self, uint64_t node, const RemoteSpawn &req, int64_t timeout_ns,
                   Reply *out) {
    if (req.capture_len + req.entry.size() + 128 > impl_->max_frame)
        return Status::invalid_argument;
    const int64_t tag = request_tag();
    std::string bytes = frame(FrameType::spawn, [&](ByteWriter &w) {
        w.u64(self.id);
        w.i64(tag);
        w.str(req.entry);
        w.u32(req.link ? 1u : 0u);
        w.i64(req.link_tag);
        w.u8(req.config ? 1 : 0);
        if (req.config) {
            w.u64(req.config->max_memory);
            w.u64(req.config->max_fuel_us);
            w.u8(req.config->can_spawn_processes);
            w.u8(req.config->can_create_configs);
            w.u64(req.config->stack_size);
            w.u8(req.config->guard_page);
        }
        w.u32(static_cast<uint32_t>(req.capture_len));
        if (req.capture_len) w.bytes(req.capture, req.capture_len);
    });
    return request(self, impl_->find(node), tag, std::move(bytes), req.link, req.link_tag,
                   timeout_ns, out);
}

Status Node::lookup(Process &self, uint64_t node, const std::string &name, const std::string &type,
                    int64_t timeout_ns, Reply *out) {
    const int64_t tag = request_tag();
    std::string bytes = frame(FrameType::lookup, [&](ByteWriter &w) {
        w.u64(self.id);
        w.i64(tag);
        w.str(name);
        w.str(type);
    });
    return request(self, impl_->find(node), tag, std::move(bytes), false, 0, timeout_ns, out);
}

}  // namespace lunatic::core::node
