#include "core/node/node.hpp"

#include <algorithm>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it
//
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <boost/asio.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <thread>
#include <unordered_set>

#include "core/current.hpp"
#include "core/entry_registry.hpp"
#include "core/links.hpp"
#include "core/node/auth.hpp"
#include "core/node/frames.hpp"
#include "core/node/handshake.hpp"
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
// A big message goes out in chunks of at most this much payload (or less, if
// the frame limit is smaller), the writer putting each other frame queued
// meanwhile between two: a small frame waits behind one chunk, not a 1 MiB
// frame. Measured (issue 8, 64 MiB beside round trips): worst small round
// trip 50-66 ms with 1 MiB chunks, 11-17 ms with these and kNotSentLowat.
constexpr std::size_t kStreamChunkBytes = 128 * 1024;
// TCP_NOTSENT_LOWAT: the kernel takes at most about this many bytes not yet
// sent on the wire, so the bytes of a big message do not pile up in the
// socket buffer ahead of a small frame written after them (bytes in flight
// are not limited, so throughput on a long path is not).
constexpr int kNotSentLowat = 64 * 1024;

// Sends closer together than this (1 M msg/s is 1 µs apart; a ping-pong round
// trip on loopback 40 µs or more) are a stream: they are left to the io
// thread, which writes them in batches, instead of each costing a system call
// on the sender's thread (see Peer::enqueue).
constexpr SteadyClock::rep kStreamingGapNs = 10'000;
// Backpressure (docs/nodes.md): a process whose send leaves more than
// kSendQueueHigh bytes in the queue it went to waits until that queue is down
// to kSendQueueLow (or the connection is gone), as Erlang suspends a sender
// on a busy distribution port. The queue is the peer's shared FIFO of small
// frames, or the sender's own queue once it has a big message queued: a
// 64 MiB message holds up its own sender only.
constexpr std::size_t kSendQueueHigh = 4u << 20;
constexpr std::size_t kSendQueueLow = 1u << 20;
// What a queued frame counts for besides its bytes (its ring slot and the
// message's header), so a flood of tiny messages is bounded in memory, not
// only in payload.
constexpr std::size_t kQueuedFrameCost = 128;
// Connections accepted but not authenticated yet, at most: more are closed
// as they arrive, so unauthenticated sockets cannot use up descriptors and
// memory. Each must complete the handshake within kHandshakeDeadlineMs (or
// peer_timeout_ms, if shorter).
constexpr std::size_t kMaxUnauthenticated = 64;
constexpr uint32_t kHandshakeDeadlineMs = 5000;
// Spawn captures sent ahead of their SPAWN frame and not claimed yet, at most
// (per connection): more is a protocol error.
constexpr std::size_t kMaxPendingCaptures = 1024;

// A FIFO in one growing array: after warm-up, pushing and popping allocate
// nothing (a std::deque allocates a block every few elements).
template <class T>
class Ring {
public:
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    T &front() noexcept { return slots_[head_]; }
    void push_back(T value) {
        if (size_ == slots_.size()) grow();
        slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(value);
        ++size_;
    }
    void pop_front() noexcept {
        slots_[head_] = T();
        head_ = (head_ + 1) & (slots_.size() - 1);
        --size_;
    }
    template <class F>
    void for_each(F &&f) {
        for (std::size_t i = 0; i < size_; ++i) f(slots_[(head_ + i) & (slots_.size() - 1)]);
    }
    void clear() noexcept {
        slots_.clear();
        head_ = size_ = 0;
    }

private:
    void grow() {
        std::vector<T> bigger(slots_.empty() ? 16 : 2 * slots_.size());
        for (std::size_t i = 0; i < size_; ++i)
            bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
        slots_.swap(bigger);
        head_ = 0;
    }
    std::vector<T> slots_;  // a power of two long
    std::size_t head_ = 0, size_ = 0;
};

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
    // Accepted connections whose AUTH verified, not answered yet: a dial of
    // ours has not said which node it reached, and it may be the crossing one.
    std::vector<std::shared_ptr<Peer>> parked;
    // Dials that found the node connected or being connected by another
    // connection (a crossed dial they lost): they wait for that one.
    struct UpWaiter {
        uint64_t node_id;
        std::shared_ptr<asio::steady_timer> deadline;
        std::function<void(Status, uint64_t, const std::string &)> cb;
    };
    std::vector<UpWaiter> up_waiters;
    std::size_t unauthenticated = 0;  // accepted connections still in their handshake
    bool refusing = false;            // at the cap (logged once each time it is reached)

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
    bool answer_dialer(const std::shared_ptr<Peer> &peer);
    void answer_parked();
    bool dialing_to(uint64_t node_id, const Peer *except) const;
    void wait_for_up(uint64_t node_id, UpCallback cb);
    void wake_up_waiters(uint64_t node_id);
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
        drop_queued_locked();
        for (auto &[from, p] : partial_) Message::destroy(p.message);
        for (auto &[key, m] : spawn_captures_) Message::destroy(m);
    }

    // ---- io thread
    void start();
    void close(const std::string &why);

    // ---- any thread: false once the connection is closed
    bool enqueue_frame(uint64_t stream, std::string bytes) {
        Item item;
        item.frame = std::move(bytes);
        item.stream = stream;
        return enqueue(std::move(item));
    }
    // *over: the queue is now over kSendQueueHigh.
    bool enqueue_message(uint64_t stream, uint64_t to, Message *m, bool *over) {
        Item item;
        item.msg = m;
        item.stream = stream;
        item.to = to;
        return enqueue(std::move(item), over);
    }
    // Suspends self (cooperatively: a fiber yields its worker) until the
    // queue is down to kSendQueueLow, the connection is closed, or self is killed.
    void wait_drained(Process &self);

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
    // Payload bytes per MESSAGE frame (set by the handshake, before the peer is up).
    std::size_t chunk_bytes() const noexcept { return chunk_; }
    State state() const noexcept { return state_; }
    bool outbound() const noexcept { return outbound_; }
    // Under impl.mutex once up (nodes() reads them from other threads).
    std::string remote_name;
    std::string listen_host;
    uint16_t listen_port = 0;
    std::vector<std::string> attributes;

private:
    struct Item {
        std::string frame;          // a whole frame, or
        Message *msg = nullptr;     // a message, cut into chunks as it is written
        uint64_t stream = 0;        // the sender (a message frame's `from`)
        uint64_t to = 0;            // (message) the receiver's local id
        std::size_t offset = 0;     // (message) bytes already written
        bool opens_stream = false;  // a marker: the stream's turn in the FIFO has come
        // What it counts for in a queue (see kQueuedFrameCost).
        std::size_t bytes() const noexcept {
            return (msg ? msg->size() - offset : frame.size()) + kQueuedFrameCost;
        }
    };
    struct Partial {
        Message *message;
        uint64_t to;
        uint64_t total;
    };

    // A process suspended by backpressure.
    struct DrainWaiter {
        uint64_t process;
        int64_t tag;     // of the wake-up message
        bool on_stream;  // waits for its own stream (else for queue_)
    };
    bool enqueue(Item item, bool *over = nullptr);
    void wake_drain_waiters(const std::vector<DrainWaiter> &waiters);
    void take_drained_locked(std::vector<DrainWaiter> &out);
    void write_more();
    void continue_write();
    void fill_locked();
    bool write_item_locked(Item &item, std::size_t &queued);
    void drop_queued_locked() noexcept;
    void read_more();
    bool parse_frames();
    void note_write() noexcept {
        last_write_.store(SteadyClock::now().time_since_epoch().count(), std::memory_order_relaxed);
    }
    void arm_timer();
    void tick();
    void uncount() noexcept {
        if (counted_unauthenticated_) {
            counted_unauthenticated_ = false;
            --impl_.unauthenticated;
        }
    }
    bool handle_frame();
    bool on_handshake();
    void go_up();
    // Dialer: closes this connection, which was never up, and hands its
    // caller to the connection that stays (wait_for_up).
    bool withdraw(const std::string &why);
    bool on_info(const InfoFrame &f);
    bool on_message(const MessageFrame &f);
    bool on_spawn(const SpawnFrame &f);
    bool on_lookup(const LookupFrame &f);
    bool on_reply(const ReplyFrame &f, bool spawn);
    bool hand_over(uint64_t from, uint64_t to, Message *m);
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
    bool counted_unauthenticated_ = false;  // in impl_.unauthenticated
    std::unique_ptr<Handshake> handshake_;  // until the peer is up
    uint64_t remote_id_ = 0;
    uint32_t remote_max_frame_ = kMinMaxFrame;
    uint32_t heartbeat_ms_ = kDefaultHeartbeatMs;  // set from both nodes' settings
    Nonce my_nonce_{};
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
    // Captures of spawns too big for one frame, by (sender, reply tag), until
    // their SPAWN frame arrives.
    std::map<std::pair<uint64_t, int64_t>, Message *> spawn_captures_;

    // The send side, shared with the threads that enqueue. Everything goes
    // through one FIFO (queue_), written in order, many frames per system
    // call. A message bigger than one chunk, and everything its sender queues
    // after it, goes to that sender's own FIFO in streams_ instead (with a
    // marker in queue_ where it was queued); once the writer reaches the
    // marker it alternates one chunk (or frame) of each active stream with
    // frames from queue_, so a big message is interleaved with everyone
    // else's frames while one sender's frames keep their order. Small
    // messages touch no map and allocate nothing (the rings reuse their room).
    std::mutex out_mutex_;
    Ring<Item> queue_;
    struct StreamQueue {
        Ring<Item> items;
        std::size_t bytes = 0;  // not yet in wbuf_
    };
    std::unordered_map<uint64_t, StreamQueue> streams_;
    Ring<uint64_t> active_;              // streams whose marker was reached, round-robin
    std::size_t fifo_bytes_ = 0;         // payload and frame bytes in queue_
    SteadyClock::rep last_enqueue_ = 0;  // when the previous frame was queued
    // Processes suspended by backpressure.
    std::vector<DrainWaiter> drain_waiters_;
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
#ifdef TCP_NOTSENT_LOWAT
    const int lowat = kNotSentLowat;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);  // best effort
#endif
    if (!random_nonce(my_nonce_)) {
        log(LogLevel::error, "cannot greet", "no random bytes from OpenSSL");
        close("no random bytes");
        return;
    }
    handshake_ =
        std::make_unique<Handshake>(impl_.id, impl_.node.options().cookie, my_nonce_, outbound_);
    HelloFrame hello;
    hello.node_id = impl_.id;
    hello.name = impl_.node.options().name;
    std::copy(my_nonce_.begin(), my_nonce_.end(), hello.nonce.begin());
    hello.max_frame = impl_.max_frame;
    hello.peer_timeout_ms = impl_.timeout_ms;
    enqueue_frame(0, make_frame(hello));
    read_more();
    arm_timer();
}

bool Peer::enqueue(Item item, bool *over) {
    std::unique_lock lock(out_mutex_);
    if (out_closed_) return false;
    const SteadyClock::rep now = SteadyClock::now().time_since_epoch().count();
    const bool streaming = now - last_enqueue_ < kStreamingGapNs;
    last_enqueue_ = now;
    const std::size_t bytes = item.bytes();
    std::size_t backlog;
    // A sender with a big message queued has its own FIFO until it drains:
    // its later frames wait there, behind it.
    auto own = streams_.empty() ? streams_.end() : streams_.find(item.stream);
    if (own != streams_.end()) {
        own->second.items.push_back(std::move(item));
        backlog = own->second.bytes += bytes;
    } else if (item.msg && item.msg->size() > chunk_) {
        Item marker;
        marker.stream = item.stream;
        marker.opens_stream = true;
        StreamQueue &q = streams_[item.stream];
        q.items.push_back(std::move(item));
        backlog = q.bytes += bytes;
        queue_.push_back(std::move(marker));
    } else {
        queue_.push_back(std::move(item));
        backlog = fifo_bytes_ += bytes;
    }
    if (over) *over = backlog > kSendQueueHigh;
    if (writing_) return true;  // the write under way takes it
    writing_ = true;
    wbuf_.clear();
    wbuf_off_ = 0;
    if (!streaming) {
        // A lone frame on a quiet connection: write it now, from this thread,
        // without blocking. Waking the io thread would cost a thread switch
        // on every round trip. The lock keeps the descriptor open meanwhile
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
            break;  // the socket's buffer is full, or an error: the io thread takes over (and sees
                    // it)
        }
        if (done) note_write();
        if (done == wbuf_.size() && queue_.empty() && active_.empty()) {
            wbuf_.clear();
            writing_ = false;
            return true;
        }
        wbuf_off_ = done;
    }
    // Frames in quick succession: the io thread writes them, as many as have
    // gathered by then in one system call; this thread only queues (one
    // wake-up of the io thread per batch, not per frame).
    lock.unlock();
    asio::post(impl_.io, [self = shared_from_this()] { self->continue_write(); });
    return true;
}

// Appends item, or its next chunk, to wbuf_. true when the item is all written.
bool Peer::write_item_locked(Item &item, std::size_t &queued) {
    if (!item.msg) {
        wbuf_ += item.frame;
        queued -= item.frame.size() + kQueuedFrameCost;
        return true;
    }
    Message *m = item.msg;
    const std::size_t size = m->size();
    const std::size_t n = std::min(size - item.offset, chunk_);
    const uint8_t flags = static_cast<uint8_t>((item.offset == 0 ? kChunkFirst : 0) |
                                               (item.offset + n == size ? kChunkLast : 0));
    const std::size_t at = begin_frame(wbuf_, FrameType::message);
    ByteWriter w(wbuf_);
    w.u64(item.stream);
    w.u64(item.to);
    w.i64(m->tag());
    w.u8(flags);
    if (flags & kChunkFirst) w.u64(size);
    if (n) w.bytes(m->data() + item.offset, n);
    finish_frame(wbuf_, at);
    item.offset += n;
    queued -= n;
    if (item.offset < size) return false;
    queued -= kQueuedFrameCost;
    Message::destroy(m);
    item.msg = nullptr;
    return true;
}

void Peer::fill_locked() {
    wbuf_.clear();
    bool stream_turn = false;
    while (wbuf_.size() < kWriteBatch) {
        if (!active_.empty() && (stream_turn || queue_.empty())) {
            // One frame or chunk of the next active stream.
            const uint64_t key = active_.front();
            active_.pop_front();
            auto it = streams_.find(key);
            Ring<Item> &items = it->second.items;
            if (write_item_locked(items.front(), it->second.bytes)) items.pop_front();
            if (items.empty())
                streams_.erase(it);
            else
                active_.push_back(key);
            stream_turn = false;
            continue;
        }
        if (queue_.empty()) break;
        Item &item = queue_.front();
        if (item.opens_stream) {
            active_.push_back(item.stream);
        } else {
            write_item_locked(item, fifo_bytes_);  // fits in one chunk
            stream_turn = true;
        }
        queue_.pop_front();
    }
}

void Peer::drop_queued_locked() noexcept {
    auto drop = [](Item &i) {
        if (i.msg) Message::destroy(i.msg);
        i.msg = nullptr;
    };
    queue_.for_each(drop);
    queue_.clear();
    for (auto &[key, q] : streams_) q.items.for_each(drop);
    streams_.clear();
    active_.clear();
    fifo_bytes_ = 0;
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
    std::vector<DrainWaiter> drained;
    bool idle = false;
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
            idle = true;
        }
        if (!drain_waiters_.empty()) take_drained_locked(drained);
    }
    wake_drain_waiters(drained);
    if (!idle) continue_write();
}

// Moves the waiters whose queue is down to kSendQueueLow to out.
void Peer::take_drained_locked(std::vector<DrainWaiter> &out) {
    auto drained = [&](const DrainWaiter &w) {
        if (!w.on_stream) return fifo_bytes_ <= kSendQueueLow;
        auto it = streams_.find(w.process);
        return it == streams_.end() || it->second.bytes <= kSendQueueLow;
    };
    auto &ws = drain_waiters_;
    for (const DrainWaiter &w : ws)
        if (drained(w)) out.push_back(w);
    if (!out.empty()) ws.erase(std::remove_if(ws.begin(), ws.end(), drained), ws.end());
}

void Peer::wake_drain_waiters(const std::vector<DrainWaiter> &waiters) {
    for (const DrainWaiter &w : waiters)
        deliver_to(impl_.rt, Pid{impl_.id, w.process}, Message::create(w.tag, 0));
}

void Peer::wait_drained(Process &self) {
    const int64_t tag = request_tag();
    {
        std::lock_guard lock(out_mutex_);
        if (out_closed_) return;
        auto own = streams_.empty() ? streams_.end() : streams_.find(self.id);
        const bool on_stream = own != streams_.end();
        if ((on_stream ? own->second.bytes : fifo_bytes_) <= kSendQueueLow) return;
        drain_waiters_.push_back(DrainWaiter{self.id, tag, on_stream});
    }
    TagFilter filter;
    filter.tags = &tag;
    filter.count = 1;
    filter.mask = TagFilter::kData;
    Message *m = nullptr;
    if (receive(self, filter, -1, &m) == Status::ok) {
        Message::destroy(m);
        return;
    }
    // Killed (or the runtime stops) while waiting: a wake-up sent meanwhile is dropped.
    {
        std::lock_guard lock(out_mutex_);
        auto &w = drain_waiters_;
        w.erase(
            std::remove_if(w.begin(), w.end(), [&](const DrainWaiter &x) { return x.tag == tag; }),
            w.end());
    }
    discard_tag(self, tag);
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
        const uint32_t limit = state_ == State::up ? impl_.max_frame : kHandshakeMaxFrame;
        const FrameSplit split = split_frame(p, rend_ - rbegin_, limit);
        const uint32_t len = split.length;
        if (split.kind == FrameSplit::error) {
            char what[128];
            std::snprintf(what, sizeof what,
                          "a frame of %u bytes (the limit is %u, and a frame is never empty)", len,
                          limit);
            return protocol_error(what);
        }
        const std::size_t need = 4 + std::size_t(len);
        if (split.kind == FrameSplit::need_more) {
            // Incomplete: make room for all of it, then read on.
            if (rbegin_) {
                std::memmove(rbuf_.data(), rbuf_.data() + rbegin_, rend_ - rbegin_);
                rend_ -= rbegin_;
                rbegin_ = 0;
            }
            // Grow with the bytes that actually arrive (at most doubling), not
            // with what the length field claims: a peer announcing a frame of
            // max_frame_bytes costs memory only as it sends it.
            if (rbuf_.size() < need + 4096)
                rbuf_.resize(
                    std::min(need + 4096, std::max<std::size_t>(2 * rbuf_.size(), 64 * 1024)));
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
    const auto handshake_deadline =
        std::chrono::milliseconds(std::min(impl_.timeout_ms, kHandshakeDeadlineMs));
    if (state_ == State::handshake && now - created_ > handshake_deadline) {
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
    const bool refused = state_ == State::handshake && handshake_ && handshake_->got_hello();
    state_ = State::closed;
    uncount();
    std::unordered_map<int64_t, Pending> pending;
    std::vector<DrainWaiter> drained;
    {
        // out_closed_ first, under the lock: no other thread writes to the
        // descriptor once the socket is closed below.
        std::lock_guard lock(out_mutex_);
        out_closed_ = true;
        drop_queued_locked();
        pending.swap(pending_);
        drained.swap(drain_waiters_);
    }
    wake_drain_waiters(drained);
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
    for (auto &[from, p] : partial_) Message::destroy(p.message);
    partial_.clear();
    for (auto &[key, m] : spawn_captures_) Message::destroy(m);
    spawn_captures_.clear();
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
    if (state_ == State::handshake) return on_handshake();
    const auto type = static_cast<FrameType>(frame_[0]);
    const uint8_t *body = frame_ + 1;
    const std::size_t n = frame_len_ - 1;
    Runtime &rt = impl_.rt;
    const uint64_t me = impl_.id;
    switch (type) {
    case FrameType::info: {
        InfoFrame f;
        if (const char *why = decode(body, n, &f)) return protocol_error(why);
        return on_info(f);
    }
    case FrameType::heartbeat:
        if (const char *why = decode_heartbeat(body, n)) return protocol_error(why);
        return true;
    case FrameType::message: {
        MessageFrame f;
        if (const char *why = decode(body, n, &f)) return protocol_error(why);
        return on_message(f);
    }
    case FrameType::link: {
        RelationFrame f;
        if (const char *why = decode(type, body, n, &f)) return protocol_error(why);
        ProcessRef p = rt.lookup(Pid{me, f.to});
        if (!p || !add_link_half(*p.get(), Pid{remote_id_, f.from}, f.tag)) {
            ExitFrame e;
            e.from = f.to;
            e.to = f.from;
            e.reason = static_cast<uint32_t>(ExitReason::noproc);
            e.text = "noproc";
            enqueue_frame(f.to, make_frame(FrameType::exit, e));
        }
        return true;
    }
    case FrameType::unlink: {
        RelationFrame f;
        if (const char *why = decode(type, body, n, &f)) return protocol_error(why);
        if (ProcessRef p = rt.lookup(Pid{me, f.to}))
            remove_link_half(*p.get(), Pid{remote_id_, f.from});
        return true;
    }
    case FrameType::exit: {
        ExitFrame f;
        if (const char *why = decode(type, body, n, &f)) return protocol_error(why);
        link_exit_signal(rt, Pid{me, f.to}, Pid{remote_id_, f.from}, ExitReason(f.reason), f.text);
        return true;
    }
    case FrameType::monitor: {
        RelationFrame f;
        if (const char *why = decode(type, body, n, &f)) return protocol_error(why);
        ProcessRef p = rt.lookup(Pid{me, f.to});
        if (!p || !add_watcher(*p.get(), Pid{remote_id_, f.from}, f.tag)) {
            ExitFrame d;
            d.from = f.to;
            d.to = f.from;
            d.tag = f.tag;
            d.reason = static_cast<uint32_t>(ExitReason::noproc);
            d.text = "noproc";
            enqueue_frame(f.to, make_frame(FrameType::down, d));
        }
        return true;
    }
    case FrameType::demonitor: {
        RelationFrame f;
        if (const char *why = decode(type, body, n, &f)) return protocol_error(why);
        if (ProcessRef p = rt.lookup(Pid{me, f.to}))
            remove_watcher(*p.get(), Pid{remote_id_, f.from}, f.tag);
        return true;
    }
    case FrameType::down: {
        ExitFrame f;
        if (const char *why = decode(type, body, n, &f)) return protocol_error(why);
        monitor_down_signal(rt, Pid{me, f.to}, Pid{remote_id_, f.from}, f.tag, ExitReason(f.reason),
                            f.text);
        return true;
    }
    case FrameType::kill: {
        RelationFrame f;
        if (const char *why = decode(type, body, n, &f)) return protocol_error(why);
        if (ProcessRef p = rt.lookup(Pid{me, f.to})) core::kill(*p.get());
        return true;
    }
    case FrameType::spawn: {
        SpawnFrame f;
        if (const char *why = decode(body, n, &f)) return protocol_error(why);
        return on_spawn(f);
    }
    case FrameType::spawn_reply:
    case FrameType::lookup_reply: {
        ReplyFrame f;
        if (const char *why = decode(body, n, &f)) return protocol_error(why);
        return on_reply(f, type == FrameType::spawn_reply);
    }
    case FrameType::lookup: {
        LookupFrame f;
        if (const char *why = decode(body, n, &f)) return protocol_error(why);
        return on_lookup(f);
    }
    case FrameType::peer_up: {
        PeerUpFrame f;
        if (const char *why = decode(body, n, &f)) return protocol_error(why);
        impl_.maybe_dial(f.peer.node_id, f.peer.host, f.peer.port);
        return true;
    }
    case FrameType::hello:
    case FrameType::auth:
        return protocol_error("a handshake frame after the handshake");
    default:
        return protocol_error("a frame of unknown type");
    }
}

bool Peer::on_handshake() {
    const Handshake::Step step = handshake_->on_frame(frame_, frame_len_);
    switch (step.kind) {
    case Handshake::Step::send_auth: {
        const HelloFrame &hello = handshake_->hello();
        // Heartbeats often enough for the peer's timeout too, which may be shorter than ours.
        heartbeat_ms_ = std::min(impl_.heartbeat_ms, hello.peer_timeout_ms / 3);
        remote_id_ = hello.node_id;
        remote_name = hello.name;
        remote_max_frame_ = hello.max_frame;
        chunk_ = std::min<std::size_t>(
            std::min<std::size_t>(impl_.max_frame, remote_max_frame_) - kMessageOverhead,
            kStreamChunkBytes);
        if (outbound_ && (impl_.find(remote_id_) || impl_.dialing_to(remote_id_, this))) {
            // Connected to that node already, or another dial of ours reached
            // it first: this one goes before it is authenticated, and its
            // caller waits for the other.
            return withdraw("already connected or connecting to that node");
        }
        enqueue_frame(0, make_frame(step.auth));
        // An accepted connection from this node may be waiting to know where this dial went.
        if (outbound_) impl_.answer_parked();
        return true;
    }
    case Handshake::Step::verified:  // dialer: wait for the peer's STATUS
        return true;
    case Handshake::Step::up:
        if (!outbound_) return impl_.answer_dialer(shared_from_this());
        go_up();
        return impl_.peer_authenticated(shared_from_this());
    case Handshake::Step::declined:
        return withdraw("the node keeps another connection to this one");
    case Handshake::Step::refuse:
        break;
    }
    if (step.wrong_cookie) {
        log(LogLevel::warning, "refused", step.why);
        close("wrong cookie");
        return false;
    }
    return protocol_error(step.why.c_str());
}

void Peer::go_up() {
    state_ = State::up;
    handshake_.reset();
    uncount();
}

bool Peer::withdraw(const std::string &why) {
    auto cb = std::move(up_cb_);
    up_cb_ = nullptr;
    const uint64_t node_id = remote_id_;
    log(LogLevel::info, "dropped a second connection to", why);
    close(why);  // never up: no signal to anyone
    if (cb) {
        if (impl_.find(node_id))
            cb(Status::ok, node_id, "");
        else
            impl_.wait_for_up(node_id, std::move(cb));
    }
    return false;
}

bool Peer::on_info(const InfoFrame &f) {
    std::vector<std::shared_ptr<Peer>> others;
    {
        std::lock_guard lock(impl_.mutex);
        listen_host = f.listen_host;
        listen_port = f.listen_port;
        attributes = f.attributes;
        for (auto &[oid, o] : impl_.peers)
            if (oid != remote_id_) others.push_back(o);
    }
    // The other peers hear of this node now that its address is known; of
    // each pair, the node with the smaller id dials (maybe_dial).
    if (f.listen_port) {
        PeerUpFrame up;
        up.peer = PeerAddress{remote_id_, f.listen_host, f.listen_port};
        for (auto &o : others) o->enqueue_frame(0, make_frame(up));
    }
    for (const PeerAddress &k : f.peers) impl_.maybe_dial(k.node_id, k.host, k.port);
    return true;
}

bool Peer::on_message(const MessageFrame &f) {
    Runtime &rt = impl_.rt;
    // The reassembly map is touched only while a chunked message is open.
    auto it = partial_.empty() ? partial_.end() : partial_.find(f.from);
    OpenMessage open;
    if (it != partial_.end()) {
        open.to = it->second.to;
        open.total = it->second.total;
        open.received = it->second.message->size();
    }
    const ChunkStep step = chunk_step(it != partial_.end() ? &open : nullptr, f);
    switch (step.kind) {
    case ChunkStep::error:
        return protocol_error(step.why);
    case ChunkStep::deliver:
    case ChunkStep::begin: {
        // Reserve no more than a chunk's worth up front: a peer's claimed total
        // costs nothing until the bytes arrive.
        Message *m = Message::create(f.tag, std::min<uint64_t>(f.total, 1u << 20));
        if (!m || !m->append(f.data.data(), f.data.size())) {
            if (m) Message::destroy(m);
            rt.log().write(LogLevel::error, "node: out of memory for a message from node %llx",
                           static_cast<unsigned long long>(remote_id_));
            return step.kind == ChunkStep::deliver ? true : protocol_error("out of memory");
        }
        m->set_sender(Pid{remote_id_, f.from});
        if (step.kind == ChunkStep::deliver) return hand_over(f.from, f.to, m);
        partial_.emplace(f.from, Partial{m, f.to, f.total});
        return true;
    }
    case ChunkStep::append:
    case ChunkStep::finish: {
        Partial &p = it->second;
        if (!p.message->append(f.data.data(), f.data.size()))
            return protocol_error("out of memory");
        if (step.kind == ChunkStep::finish) {
            Message *m = p.message;
            partial_.erase(it);
            return hand_over(f.from, f.to, m);
        }
        return true;
    }
    }
    return true;
}

// A whole message arrived: into its receiver's mailbox, or kept as the
// capture of a spawn that follows.
bool Peer::hand_over(uint64_t from, uint64_t to, Message *m) {
    if (to != kSpawnCaptureTo) {
        deliver_to(impl_.rt, Pid{impl_.id, to}, m);
        return true;
    }
    if (spawn_captures_.size() >= kMaxPendingCaptures) {
        Message::destroy(m);
        return protocol_error("too many spawn captures without their spawn");
    }
    auto [it, inserted] = spawn_captures_.emplace(std::make_pair(from, m->tag()), m);
    if (!inserted) {
        Message::destroy(m);
        return protocol_error("a second capture for the same spawn");
    }
    return true;
}

namespace {
struct SpawnReplyHook {
    Peer *peer;
    uint64_t to;
    int64_t tag;
};

ReplyFrame reply_frame(uint64_t to, int64_t tag, Status s, Pid pid, std::string detail) {
    ReplyFrame r;
    r.to = to;
    r.reply_tag = tag;
    r.status = static_cast<int32_t>(s);
    r.pid_node = pid.node;
    r.pid_id = pid.id;
    r.detail = std::move(detail);
    return r;
}
}  // namespace

bool Peer::on_spawn(const SpawnFrame &f) {
    // A capture sent ahead (kSpawnCaptureSent); freed when this returns (the spawn copies it).
    std::unique_ptr<Message, bool (*)(Message *) noexcept> sent_capture(nullptr, Message::destroy);
    if (f.flags & kSpawnCaptureSent) {
        auto it = spawn_captures_.find(std::make_pair(f.from, f.reply_tag));
        if (it == spawn_captures_.end()) return protocol_error("a spawn without its capture");
        sent_capture.reset(it->second);
        spawn_captures_.erase(it);
    }
    auto send_reply = [&](Status s, const std::string &detail) {
        enqueue_frame(0, make_frame(FrameType::spawn_reply,
                                    reply_frame(f.from, f.reply_tag, s, Pid{}, detail)));
    };
    Entry entry = nullptr;
    if (EntryRegistry::global().find(f.entry, &entry) != Status::ok) {
        send_reply(Status::not_found, "no entry is registered as '" + f.entry + "' on node '" +
                                          impl_.node.options().name + "'");
        return true;
    }
    SpawnRequest request;
    request.entry = entry;
    request.capture = f.capture.data();
    request.capture_len = f.capture.size();
    if (sent_capture) {
        request.capture = sent_capture->data();
        request.capture_len = sent_capture->size();
    }
    if (f.has_config) {
        ProcessConfig config;
        config.max_memory = f.config.max_memory;
        config.max_fuel_us = f.config.max_fuel_us;
        config.can_spawn_processes = f.config.can_spawn_processes;
        config.can_create_configs = f.config.can_create_configs;
        config.stack_size = f.config.stack_size;
        config.guard_page = f.config.guard_page;
        request.config = std::make_shared<const ProcessConfig>(config);
    }
    if (f.flags & kSpawnLink) {
        request.remote_link = Pid{remote_id_, f.from};
        request.link_tag = f.link_tag;
    }
    // The reply is queued before the child can run, so it leaves ahead of
    // anything the child sends (its exit signal included).
    SpawnReplyHook hook{this, f.from, f.reply_tag};
    request.before_start_ctx = &hook;
    request.before_start = [](void *ctx, Pid child) {
        auto *h = static_cast<SpawnReplyHook *>(ctx);
        h->peer->enqueue_frame(0, make_frame(FrameType::spawn_reply,
                                             reply_frame(h->to, h->tag, Status::ok, child, "")));
    };
    Pid child{};
    const Status s = impl_.rt.spawn(request, &child);
    if (s != Status::ok)
        send_reply(s, s == Status::killed ? std::string("the node is stopping")
                                          : std::string("the spawn failed on node '") +
                                                impl_.node.options().name + "'");
    return true;
}

bool Peer::on_lookup(const LookupFrame &f) {
    Pid pid{};
    const Status s = impl_.rt.registry().find(Registry::key(f.name, f.type), &pid);
    enqueue_frame(
        0, make_frame(FrameType::lookup_reply,
                      reply_frame(f.from, f.reply_tag,
                                  s == Status::ok ? Status::ok : Status::not_found, pid, "")));
    return true;
}

bool Peer::on_reply(const ReplyFrame &f, bool spawn) {
    Runtime &rt = impl_.rt;
    const uint64_t to = f.to;
    const Pid waiter{impl_.id, to};
    Pending pending{};
    if (!take_pending(f.reply_tag, &pending) || pending.waiter != to) {
        // The waiter gave up (timed out or was killed): a child spawned with a
        // link must not keep a half pointing at it.
        if (spawn && f.status == 0)
            enqueue_frame(to, make_frame(FrameType::unlink, RelationFrame{to, f.pid_id, 0}));
        return true;
    }
    const Pid child{f.pid_node, f.pid_id};
    if (spawn && f.status == 0 && pending.link) {
        // The spawner's half of the link is made here, before anything the
        // child sends after this reply is read.
        ProcessRef w = rt.lookup(waiter);
        if (!w || !add_link_half(*w.get(), child, pending.link_tag)) {
            ExitFrame e;
            e.from = to;
            e.to = f.pid_id;
            e.reason = static_cast<uint32_t>(ExitReason::noproc);
            e.text = "noproc";
            enqueue_frame(to, make_frame(FrameType::exit, e));
        }
    }
    deliver_to(rt, waiter, reply_message(f.reply_tag, Status(f.status), child, f.detail));
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
        } else if (unauthenticated >= kMaxUnauthenticated) {
            if (!refusing)
                rt.log().write(LogLevel::warning,
                               "node '%s': %zu connections are in their handshake already: "
                               "closing new ones until some complete or time out",
                               node.options().name.c_str(), unauthenticated);
            refusing = true;
            boost::system::error_code ignored;
            socket.close(ignored);
        } else {
            refusing = false;
            auto peer = std::make_shared<Peer>(*this, std::move(socket), false, "", 0, nullptr);
            peer->counted_unauthenticated_ = true;
            ++unauthenticated;
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
    wake_up_waiters(pid);
    return true;
}

// The accepting side's answer to a dialer whose AUTH verified (docs/nodes.md,
// "Connections"): ok makes this connection the node's, nok keeps another.
// Both nodes of a crossed dial come to the same answer: the connection
// dialled by the node with the smaller id stays.
bool Node::Impl::answer_dialer(const std::shared_ptr<Peer> &peer) {
    for (const auto &p : open)
        if (p->outbound() && p->state_ == Peer::State::handshake && p->remote_id() == 0) {
            // A dial of ours has not heard who it reached: it may be this node
            // (a crossed dial). Answer once it has (answer_parked).
            parked.push_back(peer);
            return true;
        }
    const uint64_t rid = peer->remote_id();
    // A live connection stays (the dialer checks before its AUTH that it has
    // none, so this is a dial racing a connection just made, or a loss the
    // node has not noticed yet: the dialer tries again later).
    bool keep_other = find(rid) != nullptr;
    // Crossed dials: ours stays if this node has the smaller id.
    if (!keep_other && id < rid) keep_other = dialing_to(rid, peer.get());
    if (keep_other) {
        // The dialer closes the connection when it reads this (or the
        // handshake deadline does); it never was up on either side.
        peer->enqueue_frame(0, make_frame(StatusFrame{kStatusNok}));
        return true;
    }
    peer->enqueue_frame(0, make_frame(StatusFrame{kStatusOk}));
    peer->go_up();
    return peer_authenticated(peer);
}

void Node::Impl::answer_parked() {
    if (parked.empty() || stopped.load()) return;
    std::vector<std::shared_ptr<Peer>> waiting;
    waiting.swap(parked);
    for (auto &p : waiting)
        if (p->state_ == Peer::State::handshake) answer_dialer(p);
}

// A dial of ours (other than except) in its handshake that reached node_id.
bool Node::Impl::dialing_to(uint64_t node_id, const Peer *except) const {
    for (const auto &p : open)
        if (p.get() != except && p->outbound() && p->state_ == Peer::State::handshake &&
            p->remote_id() == node_id)
            return true;
    return false;
}

void Node::Impl::wait_for_up(uint64_t node_id, UpCallback cb) {
    if (stopped.load()) {
        cb(Status::no_node, node_id, "the node is stopping");
        return;
    }
    auto timer = std::make_shared<asio::steady_timer>(
        io, std::chrono::milliseconds(std::min(timeout_ms, kHandshakeDeadlineMs)));
    up_waiters.push_back(UpWaiter{node_id, timer, std::move(cb)});
    timer->async_wait([this, timer](const boost::system::error_code &ec) {
        if (ec) return;
        auto it = std::find_if(up_waiters.begin(), up_waiters.end(),
                               [&](const UpWaiter &w) { return w.deadline == timer; });
        if (it == up_waiters.end()) return;
        UpWaiter w = std::move(*it);
        up_waiters.erase(it);
        w.cb(Status::no_node, w.node_id,
             "the node kept another connection to this one, which did not come up in time");
    });
}

void Node::Impl::wake_up_waiters(uint64_t node_id) {
    if (up_waiters.empty()) return;
    std::vector<UpWaiter> woken;
    for (auto it = up_waiters.begin(); it != up_waiters.end();) {
        if (it->node_id == node_id) {
            woken.push_back(std::move(*it));
            it = up_waiters.erase(it);
        } else {
            ++it;
        }
    }
    for (UpWaiter &w : woken) {
        w.deadline->cancel();
        w.cb(Status::ok, node_id, "");
    }
}

void Node::Impl::peer_closed(const std::shared_ptr<Peer> &peer, bool was_up,
                             const std::string &why) {
    open.erase(std::remove(open.begin(), open.end(), peer), open.end());
    parked.erase(std::remove(parked.begin(), parked.end(), peer), parked.end());
    if (!was_up) {
        // A dial that never said who it reached no longer holds up the answers.
        if (peer->outbound()) answer_parked();
        return;
    }
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
    std::vector<UpWaiter> waiting;
    waiting.swap(up_waiters);
    for (UpWaiter &w : waiting) {
        w.deadline->cancel();
        w.cb(Status::no_node, w.node_id, "the node is stopping");
    }
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
    bool over = false;
    if (!peer->enqueue_message(from.id, to.id, message, &over)) return Status::no_node;
    if (over) {
        // Only a process can wait (a fiber yields its worker, an attached
        // thread blocks); other threads' sends (timers) are never held up.
        Process *self = current_process();
        if (self && &self->runtime == &rt_ && self->id == from.id) peer->wait_drained(*self);
    }
    return Status::ok;
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
// ahead: a message (the capture of a big spawn) sent just before the frame, or null.
Status request(Process &self, const std::shared_ptr<Peer> &peer, int64_t tag, std::string bytes,
               bool link, int64_t link_tag, int64_t timeout_ns, Reply *out,
               Message *ahead = nullptr) {
    if (!peer) {
        if (ahead) Message::destroy(ahead);
        return Status::no_node;
    }
    if (!peer->add_pending(tag, Peer::Pending{self.id, link, link_tag})) {
        if (ahead) Message::destroy(ahead);
        return Status::no_node;
    }
    bool over = false;
    if (ahead && !peer->enqueue_message(self.id, kSpawnCaptureTo, ahead, &over)) {
        Message::destroy(ahead);
        peer->take_pending(tag, nullptr);
        return Status::no_node;
    }
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
    std::shared_ptr<Peer> peer = impl_->find(node);
    if (!peer) return Status::no_node;
    const int64_t tag = request_tag();
    SpawnFrame f;
    f.from = self.id;
    f.reply_tag = tag;
    f.entry = req.entry;
    f.flags = req.link ? kSpawnLink : 0;
    f.link_tag = req.link_tag;
    f.has_config = req.config != nullptr;
    if (req.config) {
        f.config.max_memory = req.config->max_memory;
        f.config.max_fuel_us = req.config->max_fuel_us;
        f.config.can_spawn_processes = req.config->can_spawn_processes;
        f.config.can_create_configs = req.config->can_create_configs;
        f.config.stack_size = req.config->stack_size;
        f.config.guard_page = req.config->guard_page;
    }
    // What one frame carries on this connection (both sides' max_frame_bytes).
    const std::size_t frame_room = peer->chunk_bytes() + kMessageOverhead;
    const std::size_t fixed = make_frame(f).size() - 4;
    if (fixed > frame_room) return Status::invalid_argument;  // the entry name alone is too long
    Message *ahead = nullptr;
    if (fixed + req.capture_len <= frame_room) {
        f.capture = std::string_view(static_cast<const char *>(req.capture), req.capture_len);
    } else {
        // Too big for one frame: the capture goes ahead as a message, cut into
        // chunks like any big message (so it holds up no one else's frames).
        ahead = Message::create(tag, req.capture_len);
        if (!ahead || !ahead->append(req.capture, req.capture_len)) {
            if (ahead) Message::destroy(ahead);
            return Status::no_memory;
        }
        f.flags |= kSpawnCaptureSent;
    }
    return request(self, peer, tag, make_frame(f), req.link, req.link_tag, timeout_ns, out, ahead);
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
