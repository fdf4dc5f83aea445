// Writes the seed corpora of the decoder targets: typical values of each
// fuzzed type, encoded by each serializer, prefixed with the byte that picks
// the type (see decode_common.hpp). Not built by meson; to regenerate:
//
//   g++ -std=c++20 -Iinclude tests/fuzz/make_seeds.cpp -Lbuild -llunatic
//       -Wl,-rpath,$PWD/build -o /tmp/make_seeds
//   /tmp/make_seeds tests/fuzz/corpus
#include <lunatic/bincode.hpp>
#include <lunatic/json.hpp>
#include <lunatic/msgpack.hpp>

#include <fstream>

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

}  // namespace

int main(int argc, char **argv) {
    std::string root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    seeds<lunatic::Bincode>(root + "/bincode");
    seeds<lunatic::MessagePack>(root + "/msgpack");
    seeds<lunatic::Json>(root + "/json");
    return 0;
}
