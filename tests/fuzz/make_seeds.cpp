// Writes the seed corpora of the decoder targets: typical values of each
// fuzzed type, encoded by each serializer, prefixed with the byte that picks
// the type (see decode_common.hpp); and the node targets' streams of valid
// frames of each type (node_frames, node_handshake). Not built by meson; to
// regenerate:
//
//   g++ -std=c++20 -Iinclude -I. tests/fuzz/make_seeds.cpp -Lbuild -llunatic
//       -Wl,-rpath,$PWD/build -o /tmp/make_seeds
//   /tmp/make_seeds tests/fuzz/corpus
#include <lunatic/bincode.hpp>
#include <lunatic/json.hpp>
#include <lunatic/msgpack.hpp>

#include <fstream>

#include "core/node/frames.cpp"  // pure code, not exported by liblunatic
#include "decode_common.hpp"

namespace {

template <class S, class T>
void write(const std::string &dir, const std::string &name, uint8_t pick, const T &value) {
    std::vector<uint8_t> bytes = fuzz::encode<S>(value);
    bytes.insert(bytes.begin(), pick);
    std::ofstream(dir + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
}

template <class S>
void seeds(const std::string &dir) {
    fuzz::Everything e;
    e.flag = true;
    e.i8 = -5;
    e.i32 = 123456;
    e.i64 = -(int64_t(1) << 40);
    e.u16 = 65535;
    e.u64 = ~uint64_t(0);
    e.f32 = 1.5f;
    e.f64 = -0.25;
    e.ch = U'\u00e9';
    e.byte = std::byte{0xab};
    e.color = fuzz::Color::Blue;
    e.text = "h\xc3\xa9llo";
    e.bytes = {0, 1, 255};
    e.words = {"a", "", "bc"};
    e.triple = {1, -2, 3};
    e.maybe = fuzz::Point{7, -7};
    e.pair = {4, "four"};
    e.tuple = {9, 2.5, "t"};
    e.by_name = {{"x", 1}, {"y", 2}};
    e.lists = {{"l", {1, 2, 3}}};
    e.set = {3, 1, 2};
    e.choice = std::string("alt");
    e.points = {{1, 2}, {3, 4}};
    write<S>(dir, "everything", 0, e);
    write<S>(dir, "everything-default", 0, fuzz::Everything{});

    fuzz::Node tree{1, {{2, {}, "leaf"}, {3, {{4, {}, {}}}, {}}}, "root"};
    write<S>(dir, "node", 1, tree);
    write<S>(dir, "message-point", 2, fuzz::Message{fuzz::Point{5, 6}});
    write<S>(dir, "message-nodes", 2, fuzz::Message{std::vector<fuzz::Node>{tree}});
    write<S>(dir, "string", 3, std::string("text \xe2\x82\xac"));
    write<S>(dir, "maps", 4,
             std::vector<std::map<int64_t, std::string>>{{{-1, "m"}, {2, "n"}}, {}});
    write<S>(dir, "tuple", 5, std::tuple<bool, double, char32_t>{false, 1e300, U'\U0001F600'});
    write<S>(dir, "monostates", 6, std::vector<std::monostate>(3));
    write<S>(dir, "optional-vector", 7, std::optional<std::vector<fuzz::Everything>>{{e}});
}

namespace nodes {

namespace node = lunatic::core::node;
using node::FrameType;

// A seed file: the first byte (limit or flags picker), then frames.
void write(const std::string &dir, const std::string &name, uint8_t first,
           const std::string &frames) {
    std::ofstream out(dir + "/" + name, std::ios::binary);
    out.put(static_cast<char>(first));
    out.write(frames.data(), std::streamsize(frames.size()));
}

node::HelloFrame hello(uint64_t id) {
    node::HelloFrame h;
    h.node_id = id;
    h.name = "seed";
    for (std::size_t i = 0; i < h.nonce.size(); ++i) h.nonce[i] = uint8_t(i);
    h.max_frame = 1 << 20;
    h.peer_timeout_ms = 4000;
    return h;
}

node::MessageFrame message(uint64_t from, uint64_t to, uint8_t flags, uint64_t total,
                           std::string_view data) {
    node::MessageFrame m;
    m.from = from;
    m.to = to;
    m.tag = 7;
    m.flags = flags;
    m.total = total;
    m.data = data;
    return m;
}

void frames(const std::string &dir) {
    // First byte 2: the 1 MiB default limit; 0: the handshake's 4 KiB.
    write(dir, "hello", 0, node::make_frame(hello(42)));
    write(dir, "auth", 0, node::make_frame(node::AuthFrame{}));
    node::InfoFrame info;
    info.listen_host = "127.0.0.1";
    info.listen_port = 4370;
    info.attributes = {"role=seed", "zone=a"};
    info.peers = {{3, "10.0.0.3", 4371}, {4, "::1", 4372}};
    write(dir, "info", 2, node::make_frame(info));
    std::string hb;
    node::append_heartbeat(hb);
    write(dir, "heartbeat", 2, hb);
    write(dir, "message", 2,
          node::make_frame(message(1, 2, node::kChunkFirst | node::kChunkLast, 5, "hello")));
    std::string chunks;
    node::append_frame(chunks, message(1, 2, node::kChunkFirst, 10, "01234"));
    node::append_frame(chunks, message(3, 2, node::kChunkFirst | node::kChunkLast, 2, "hi"));
    node::append_frame(chunks, message(1, 2, 0, 0, "567"));
    node::append_frame(chunks, message(1, 2, node::kChunkLast, 0, "89"));
    write(dir, "message-chunks", 1, chunks);
    const node::RelationFrame rel{5, 6, -3};
    for (FrameType t : {FrameType::link, FrameType::unlink, FrameType::monitor,
                        FrameType::demonitor, FrameType::kill})
        write(dir, "relation-" + std::to_string(int(t)), 2, node::make_frame(t, rel));
    node::ExitFrame exit;
    exit.from = 5;
    exit.to = 6;
    exit.tag = 9;
    exit.reason = 1;
    exit.text = "it failed";
    write(dir, "exit", 2, node::make_frame(FrameType::exit, exit));
    write(dir, "down", 2, node::make_frame(FrameType::down, exit));
    node::SpawnFrame spawn;
    spawn.from = 8;
    spawn.reply_tag = -(int64_t(1) << 62) - 1;
    spawn.entry = "worker";
    spawn.flags = node::kSpawnLink;
    spawn.link_tag = 4;
    spawn.capture = "capture";
    write(dir, "spawn", 2, node::make_frame(spawn));
    spawn.has_config = true;
    spawn.config.max_memory = 1 << 20;
    spawn.config.stack_size = 65536;
    spawn.config.can_spawn_processes = true;
    write(dir, "spawn-config", 2, node::make_frame(spawn));
    node::ReplyFrame reply;
    reply.to = 8;
    reply.reply_tag = spawn.reply_tag;
    reply.status = -8;
    reply.detail = "no entry";
    write(dir, "spawn-reply", 2, node::make_frame(FrameType::spawn_reply, reply));
    reply.status = 0;
    reply.pid_node = 77;
    reply.pid_id = 12;
    write(dir, "lookup-reply", 2, node::make_frame(FrameType::lookup_reply, reply));
    node::LookupFrame lookup;
    lookup.from = 8;
    lookup.reply_tag = spawn.reply_tag;
    lookup.name = "server";
    lookup.type = "i32";
    write(dir, "lookup", 2, node::make_frame(lookup));
    node::PeerUpFrame up;
    up.peer = {9, "127.0.0.1", 4373};
    write(dir, "peer-up", 2, node::make_frame(up));
}

void handshake(const std::string &dir) {
    // Flag 1: the fuzzer patches the right MAC into an AUTH after a HELLO.
    std::string good = node::make_frame(hello(42));
    node::append_frame(good, node::AuthFrame{});
    node::append_heartbeat(good);  // refused: the handshake is over
    write(dir, "hello-auth", 1, good);
    write(dir, "hello-wrong-cookie", 0, good);
    // Flag 2: the node dialled; the peer answers its AUTH with a STATUS.
    for (const uint8_t status : {node::kStatusOk, node::kStatusNok}) {
        std::string dialed = node::make_frame(hello(44));
        node::append_frame(dialed, node::AuthFrame{});
        node::append_frame(dialed, node::StatusFrame{status});
        node::append_heartbeat(dialed);  // refused: the handshake is over
        write(dir, status == node::kStatusOk ? "dialer-status-ok" : "dialer-status-nok", 3, dialed);
    }
    node::HelloFrame other = hello(43);
    other.version = node::kProtocolVersion + 1;
    write(dir, "hello-other-version", 1, node::make_frame(other));
    write(dir, "auth-first", 1, node::make_frame(node::AuthFrame{}));
}

}  // namespace nodes

}  // namespace

int main(int argc, char **argv) {
    std::string root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    seeds<lunatic::Bincode>(root + "/bincode");
    seeds<lunatic::MessagePack>(root + "/msgpack");
    seeds<lunatic::Json>(root + "/json");
    nodes::frames(root + "/node_frames");
    nodes::handshake(root + "/node_handshake");
    return 0;
}
