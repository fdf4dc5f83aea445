// Shared body of the decoder fuzz targets (fuzz_bincode, fuzz_msgpack,
// fuzz_json): the first input byte picks a type, the rest is a payload that
// the serializer must either decode or reject with lunatic::Error. What does
// decode must survive a round trip: encoding it and decoding that again gives
// the same value, byte for byte once re-encoded.
#pragma once

#include <lunatic/lunatic.h>
#include <lunatic/detail/codec.hpp>
#include <lunatic/serializer.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

namespace fuzz {

struct Point {
    int32_t x = 0;
    int32_t y = 0;
};
LUNATIC_FIELDS(Point, x, y)

enum class Color : uint8_t { Red, Green, Blue };

struct Everything {
    bool flag = false;
    int8_t i8 = 0;
    int32_t i32 = 0;
    int64_t i64 = 0;
    uint16_t u16 = 0;
    uint64_t u64 = 0;
    float f32 = 0;
    double f64 = 0;
    char32_t ch = U'a';
    std::byte byte{};
    Color color = Color::Red;
    std::string text;
    std::vector<uint8_t> bytes;
    std::vector<std::string> words;
    std::array<int16_t, 3> triple{};
    std::optional<Point> maybe;
    std::pair<int, std::string> pair;
    std::tuple<uint8_t, double, std::string> tuple;
    std::map<std::string, int> by_name;
    std::unordered_map<std::string, std::vector<int>> lists;
    std::set<int> set;
    std::variant<std::monostate, int32_t, std::string, Point> choice;
    std::vector<Point> points;
};
LUNATIC_FIELDS(Everything, flag, i8, i32, i64, u16, u64, f32, f64, ch, byte, color, text, bytes,
               words, triple, maybe, pair, tuple, by_name, lists, set, choice, points)

// Recursive: its depth is bounded only by the payload (and max_depth).
struct Node {
    int32_t value = 0;
    std::vector<Node> children;
    std::optional<std::string> label;
};
LUNATIC_FIELDS(Node, value, children, label)

using Message = std::variant<std::monostate, Point, std::string, std::vector<Node>>;

[[noreturn]] inline void fail(const char *what) {
    std::fprintf(stderr, "fuzz: %s\n", what);
    std::abort();
}

template <class S, class T>
std::vector<uint8_t> encode(const T &value) {
    lunatic_message *message = lunatic::detail::encode_message<S>(lunatic::Tag{}, value);
    const uint8_t *data = lunatic_message_data(message);
    std::vector<uint8_t> bytes(data, data + lunatic_message_size(message));
    lunatic_message_free(message);
    return bytes;
}

template <class S, class T>
void check_one(const uint8_t *data, std::size_t size) {
    T first{};
    try {
        lunatic::detail::decode_payload<S>(data, size, first);
    } catch (const lunatic::Error &) {
        return;  // rejected: fine, as long as it did not crash or blow up
    }
    std::vector<uint8_t> bytes;
    try {
        bytes = encode<S>(first);
    } catch (const lunatic::SerializationError &) {
        return;  // e.g. a float JSON cannot write (NaN): refused, not mangled
    }
    T second{};
    try {
        lunatic::detail::decode_payload<S>(bytes.data(), bytes.size(), second);
    } catch (const lunatic::Error &e) {
        std::fprintf(stderr, "fuzz: %s\n", e.what());
        fail("a value the serializer encoded does not decode");
    }
    if (encode<S>(second) != bytes) fail("decode(encode(value)) differs from value");
}

template <class S>
int decode_one_input(const uint8_t *data, std::size_t size) {
    if (size == 0) return 0;
    const uint8_t pick = data[0];
    ++data;
    --size;
    switch (pick % 9) {
    case 0:
        check_one<S, Everything>(data, size);
        break;
    case 1:
        check_one<S, Node>(data, size);
        break;
    case 2:
        check_one<S, Message>(data, size);
        break;
    case 3:
        check_one<S, std::string>(data, size);
        break;
    case 4:
        check_one<S, std::vector<std::map<int64_t, std::string>>>(data, size);
        break;
    case 5:
        check_one<S, std::tuple<bool, double, char32_t>>(data, size);
        break;
    case 6:
        check_one<S, std::vector<std::monostate>>(data, size);
        break;
    case 7:
        check_one<S, std::optional<std::vector<Everything>>>(data, size);
        break;
    default:  // nested zero-size elements: one budget for the whole value
        check_one<S, std::vector<std::vector<std::monostate>>>(data, size);
        break;
    }
    return 0;
}

}  // namespace fuzz
