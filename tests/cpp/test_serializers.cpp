// The shipped serializers: round trips of every supported type in Bincode,
// MessagePack and Json, golden bytes/text written from the specifications, and
// malformed payloads, which must throw lunatic::DeserializationError (never
// crash, never allocate what the payload cannot back).
//
// Needs no runtime: messages are built with lunatic_message_new and decoded
// the way the runtime decodes them (lunatic::detail::decode_payload, which
// also rejects trailing bytes).
#include <doctest/doctest.h>

#include <lunatic/bincode.hpp>
#include <lunatic/detail/codec.hpp>
#include <lunatic/json.hpp>
#include <lunatic/msgpack.hpp>
#include <lunatic/process.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

using lunatic::Bincode;
using lunatic::DeserializationError;
using lunatic::Json;
using lunatic::MessagePack;
using lunatic::SerializationError;
using Bytes = std::vector<uint8_t>;

// ------------------------------------------------------------ test types

namespace shapes {

struct Point {
    int32_t x = 0;
    int32_t y = 0;
    friend bool operator==(const Point &, const Point &) = default;
};
LUNATIC_FIELDS(Point, x, y)

enum class Color : uint8_t { Red, Green, Blue };
enum Level : int16_t { Low = -1, Mid = 0, High = 7 };  // negative: not for Bincode
enum class Wide : uint64_t { Small = 3, Huge = 1ULL << 40 };

/// Every supported field type in one struct (LUNATIC_FIELDS takes up to 24).
struct Everything {
    bool flag = false;
    int8_t i8 = 0;
    int32_t i32 = 0;
    int64_t i64 = 0;
    uint8_t u8 = 0;
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
    std::map<int, std::string> by_number;
    std::unordered_map<std::string, std::vector<int>> lists;
    std::set<int> set;
    std::variant<std::monostate, int32_t, std::string, Point> choice;
    std::vector<Point> points;
    friend bool operator==(const Everything &, const Everything &) = default;
};
LUNATIC_FIELDS(Everything, flag, i8, i32, i64, u8, u64, f32, f64, ch, byte, color, text, bytes,
               words, triple, maybe, pair, tuple, by_name, by_number, lists, set, choice, points)

/// A recursive type: nesting depth is bounded only by the payload.
struct Node {
    int32_t value = 0;
    std::vector<Node> children;
    friend bool operator==(const Node &, const Node &) = default;
};
LUNATIC_FIELDS(Node, value, children)

/// Private fields, declared inside the class.
class Account {
public:
    Account() = default;
    Account(std::string owner, int64_t balance) : owner_(std::move(owner)), balance_(balance) {}
    friend bool operator==(const Account &, const Account &) = default;

private:
    std::string owner_;
    int64_t balance_ = 0;
    LUNATIC_FRIEND_FIELDS(Account, owner_, balance_)
};

/// A reply that carries the process to answer (handles travel inside messages).
struct Request {
    lunatic::Process<std::string> reply_to;
    std::string question;
    friend bool operator==(const Request &, const Request &) = default;
};
LUNATIC_FIELDS(Request, reply_to, question)

}  // namespace shapes

using namespace shapes;

// ------------------------------------------------------------ helpers

namespace {

/// A message: created without a runtime, freed at the end of the scope.
struct Message {
    lunatic_message *m = nullptr;
    Message() { REQUIRE(lunatic_message_new(0, 0, &m) == LUNATIC_OK); }
    ~Message() { lunatic_message_free(m); }
    Message(const Message &) = delete;
    Message &operator=(const Message &) = delete;
    Bytes bytes() const {
        const uint8_t *data = lunatic_message_data(m);
        return Bytes(data, data + lunatic_message_size(m));
    }
};

template <class S, class T>
Bytes encode(const T &value) {
    Message msg;
    lunatic::Writer out(msg.m);
    S::encode(out, value);
    return msg.bytes();
}

/// Decodes exactly as the runtime does (trailing bytes are an error).
template <class S, class T>
T decode(const Bytes &bytes) {
    T value{};
    lunatic::detail::decode_payload<S>(bytes.data(), bytes.size(), value);
    return value;
}

template <class S, class T>
T decode_text(const std::string &text) {
    return decode<S, T>(Bytes(text.begin(), text.end()));
}

template <class S, class T>
T round_trip(const T &value) {
    return decode<S, T>(encode<S>(value));
}

std::string text_of(const Bytes &bytes) { return std::string(bytes.begin(), bytes.end()); }

Bytes hex(const char *s) {
    Bytes out;
    auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (const char *p = s; *p;) {
        if (*p == ' ') {
            ++p;
            continue;
        }
        int hi = digit(p[0]), lo = digit(p[1]);
        REQUIRE(hi >= 0);
        REQUIRE(lo >= 0);
        out.push_back(static_cast<uint8_t>(hi * 16 + lo));
        p += 2;
    }
    return out;
}

Bytes operator+(Bytes a, const Bytes &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Bytes repeat(const Bytes &b, int n) {
    Bytes out;
    for (int i = 0; i < n; ++i) out = out + b;
    return out;
}

Everything sample() {
    Everything e;
    e.flag = true;
    e.i8 = -128;
    e.i32 = std::numeric_limits<int32_t>::min();
    e.i64 = std::numeric_limits<int64_t>::min();
    e.u8 = 255;
    e.u64 = std::numeric_limits<uint64_t>::max();
    e.f32 = 0.1f;
    e.f64 = -1.0 / 3.0;
    e.ch = U'\U0001F600';
    e.byte = std::byte{0xAB};
    e.color = Color::Blue;
    e.text = "héllo wörld ✓ \xF0\x9F\x98\x80";
    e.bytes = {0, 1, 2, 254, 255};
    e.words = {"", "a", "bc"};
    e.triple = {-1, 0, 1};
    e.maybe = Point{3, -4};
    e.pair = {42, "answer"};
    e.tuple = {7, 2.5, "seven"};
    e.by_name = {{"one", 1}, {"two", 2}};
    e.by_number = {{-5, "minus five"}, {10, "ten"}};
    e.lists = {{"empty", {}}, {"some", {1, 2, 3}}};
    e.set = {9, -9, 0};
    e.choice = std::string("chosen");
    e.points = {{1, 2}, {3, 4}};
    return e;
}

Node chain(int depth) {
    Node root{0, {}};
    Node *at = &root;
    for (int i = 1; i < depth; ++i) {
        at->children.push_back(Node{i, {}});
        at = &at->children.back();
    }
    return root;
}

int chain_depth(const Node &n) {
    int d = 1;
    for (const Node *at = &n; !at->children.empty(); at = &at->children.front()) ++d;
    return d;
}

}  // namespace

// ------------------------------------------------------------ the concept

static_assert(lunatic::SerializerFor<Bincode, int>);
static_assert(lunatic::SerializerFor<Bincode, Everything>);
static_assert(lunatic::SerializerFor<MessagePack, Everything>);
static_assert(lunatic::SerializerFor<Json, Everything>);
static_assert(lunatic::SerializerFor<Bincode, Node>);
static_assert(lunatic::SerializerFor<Json, lunatic::Process<int>>);
static_assert(
    lunatic::SerializerFor<MessagePack, std::map<std::pair<int, int>, std::vector<std::string>>>);
// Types no serializer supports are rejected by the concept, not deep inside a template.
static_assert(!lunatic::SerializerFor<Bincode, int *>);
static_assert(!lunatic::SerializerFor<Bincode, long double>);
static_assert(!lunatic::SerializerFor<MessagePack, std::vector<void *>>);
static_assert(!lunatic::SerializerFor<Json, std::optional<std::unique_ptr<int>>>);
static_assert(!lunatic::SerializerFor<Json, const char *>);

// ------------------------------------------------------------ round trips

TEST_CASE_TEMPLATE("round trip: scalars", S, Bincode, MessagePack, Json) {
    CHECK(round_trip<S>(true) == true);
    CHECK(round_trip<S>(false) == false);

    CHECK(round_trip<S>(std::numeric_limits<int8_t>::min()) == std::numeric_limits<int8_t>::min());
    CHECK(round_trip<S>(std::numeric_limits<int8_t>::max()) == std::numeric_limits<int8_t>::max());
    CHECK(round_trip<S>(std::numeric_limits<int16_t>::min()) ==
          std::numeric_limits<int16_t>::min());
    CHECK(round_trip<S>(std::numeric_limits<int32_t>::min()) ==
          std::numeric_limits<int32_t>::min());
    CHECK(round_trip<S>(std::numeric_limits<int64_t>::min()) ==
          std::numeric_limits<int64_t>::min());
    CHECK(round_trip<S>(std::numeric_limits<int64_t>::max()) ==
          std::numeric_limits<int64_t>::max());
    CHECK(round_trip<S>(std::numeric_limits<uint8_t>::max()) ==
          std::numeric_limits<uint8_t>::max());
    CHECK(round_trip<S>(std::numeric_limits<uint16_t>::max()) ==
          std::numeric_limits<uint16_t>::max());
    CHECK(round_trip<S>(std::numeric_limits<uint32_t>::max()) ==
          std::numeric_limits<uint32_t>::max());
    CHECK(round_trip<S>(std::numeric_limits<uint64_t>::max()) ==
          std::numeric_limits<uint64_t>::max());
    CHECK(round_trip<S>(-12345) == -12345);
    CHECK(round_trip<S>(char('x')) == 'x');
    CHECK(round_trip<S>(static_cast<signed char>(-3)) == -3);
    CHECK(round_trip<S>(short(-300)) == -300);
    CHECK(round_trip<S>(-7L) == -7L);
    CHECK(round_trip<S>(9ULL) == 9ULL);
    CHECK(round_trip<S>(char16_t(0xFFFF)) == char16_t(0xFFFF));
    CHECK(round_trip<S>(wchar_t(-2)) == wchar_t(-2));

    CHECK(round_trip<S>(1.5f) == 1.5f);
    CHECK(round_trip<S>(0.1f) == 0.1f);
    CHECK(round_trip<S>(std::numeric_limits<float>::max()) == std::numeric_limits<float>::max());
    CHECK(round_trip<S>(std::numeric_limits<float>::denorm_min()) ==
          std::numeric_limits<float>::denorm_min());
    CHECK(round_trip<S>(0.1) == 0.1);
    CHECK(round_trip<S>(-1e300) == -1e300);
    CHECK(round_trip<S>(3.0) == 3.0);
    CHECK(round_trip<S>(std::numeric_limits<double>::denorm_min()) ==
          std::numeric_limits<double>::denorm_min());
    CHECK(std::signbit(round_trip<S>(-0.0)));
    CHECK(std::signbit(round_trip<S>(-0.0f)));

    CHECK(round_trip<S>(U'a') == U'a');
    CHECK(round_trip<S>(U'\0') == U'\0');
    CHECK(round_trip<S>(U'é') == U'é');
    CHECK(round_trip<S>(U'€') == U'€');
    CHECK(round_trip<S>(U'\U0001F600') == U'\U0001F600');
    CHECK(round_trip<S>(U'\U0010FFFF') == U'\U0010FFFF');

    CHECK(round_trip<S>(std::byte{0xFE}) == std::byte{0xFE});
    CHECK(round_trip<S>(Color::Blue) == Color::Blue);
    CHECK(round_trip<S>(Wide::Small) == Wide::Small);
    CHECK(round_trip<S>(std::monostate{}) == std::monostate{});
}

TEST_CASE_TEMPLATE("round trip: non-finite floats (not Json)", S, Bincode, MessagePack) {
    CHECK(std::isnan(round_trip<S>(std::numeric_limits<double>::quiet_NaN())));
    CHECK(std::isnan(round_trip<S>(std::numeric_limits<float>::quiet_NaN())));
    CHECK(round_trip<S>(std::numeric_limits<double>::infinity()) ==
          std::numeric_limits<double>::infinity());
    CHECK(round_trip<S>(-std::numeric_limits<float>::infinity()) ==
          -std::numeric_limits<float>::infinity());
}

TEST_CASE_TEMPLATE("round trip: signed enums (not Bincode)", S, MessagePack, Json) {
    CHECK(round_trip<S>(Low) == Low);
    CHECK(round_trip<S>(High) == High);
    CHECK(round_trip<S>(Wide::Huge) == Wide::Huge);
}

TEST_CASE_TEMPLATE("round trip: strings", S, Bincode, MessagePack, Json) {
    CHECK(round_trip<S>(std::string()) == "");
    CHECK(round_trip<S>(std::string("hello")) == "hello");
    CHECK(round_trip<S>(std::string("ünïcødé ✓ 😀")) == "ünïcødé ✓ 😀");
    CHECK(round_trip<S>(std::string("quote \" backslash \\ newline \n tab \t")) ==
          "quote \" backslash \\ newline \n tab \t");
    std::string with_nul("a\0b", 3);
    CHECK(round_trip<S>(with_nul) == with_nul);
    std::string control;
    for (char c = 1; c < 32; ++c) control += c;
    CHECK(round_trip<S>(control) == control);
    std::string long_text(100000, 'z');
    long_text += "é";
    CHECK(round_trip<S>(long_text) == long_text);
}

TEST_CASE_TEMPLATE("round trip: sequences", S, Bincode, MessagePack, Json) {
    CHECK(round_trip<S>(std::vector<int>{}).empty());
    CHECK(round_trip<S>(std::vector<int>{1, -2, 3}) == std::vector<int>{1, -2, 3});
    std::vector<uint8_t> bytes(1000);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
    CHECK(round_trip<S>(bytes) == bytes);
    CHECK(round_trip<S>(std::vector<std::byte>{std::byte{1}, std::byte{255}}) ==
          std::vector<std::byte>{std::byte{1}, std::byte{255}});
    CHECK(round_trip<S>(std::vector<int8_t>{-1, 1}) == std::vector<int8_t>{-1, 1});
    CHECK(round_trip<S>(std::vector<bool>{true, false, true}) ==
          std::vector<bool>{true, false, true});
    CHECK(round_trip<S>(std::vector<double>{0.5, -2.25}) == std::vector<double>{0.5, -2.25});
    CHECK(round_trip<S>(std::vector<std::string>{"a", "", "ccc"}) ==
          std::vector<std::string>{"a", "", "ccc"});
    std::vector<std::vector<int>> nested{{}, {1}, {2, 3}};
    CHECK(round_trip<S>(nested) == nested);
    CHECK(round_trip<S>(std::vector<std::monostate>(3)).size() == 3);
    CHECK(round_trip<S>(std::vector<Color>{Color::Green, Color::Red}) ==
          std::vector<Color>{Color::Green, Color::Red});

    CHECK(round_trip<S>(std::array<int, 3>{4, 5, 6}) == std::array<int, 3>{4, 5, 6});
    CHECK(round_trip<S>(std::array<uint8_t, 4>{1, 2, 3, 4}) == std::array<uint8_t, 4>{1, 2, 3, 4});
    CHECK(round_trip<S>(std::array<std::string, 2>{"x", "y"}) ==
          std::array<std::string, 2>{"x", "y"});
    CHECK(round_trip<S>(std::array<int, 0>{}).empty());

    CHECK(round_trip<S>(std::set<int>{3, 1, 2}) == std::set<int>{1, 2, 3});
    CHECK(round_trip<S>(std::unordered_set<std::string>{"p", "q"}) ==
          std::unordered_set<std::string>{"p", "q"});
}

TEST_CASE_TEMPLATE("round trip: optional, pair, tuple, variant", S, Bincode, MessagePack, Json) {
    CHECK(round_trip<S>(std::optional<int>{}) == std::nullopt);
    CHECK(round_trip<S>(std::optional<int>{0}) == std::optional<int>{0});
    CHECK(round_trip<S>(std::optional<std::string>{"x"}) == std::optional<std::string>{"x"});
    CHECK(round_trip<S>(std::optional<std::vector<int>>{std::vector<int>{1}}) ==
          std::optional<std::vector<int>>{std::vector<int>{1}});
    CHECK(round_trip<S>(std::vector<std::optional<int>>{1, std::nullopt, 3}) ==
          std::vector<std::optional<int>>{1, std::nullopt, 3});

    CHECK(round_trip<S>(std::pair<int, std::string>{1, "one"}) ==
          std::pair<int, std::string>{1, "one"});
    CHECK(round_trip<S>(std::tuple<int, double, std::string, bool>{1, 2.5, "three", true}) ==
          std::tuple<int, double, std::string, bool>{1, 2.5, "three", true});
    CHECK(round_trip<S>(std::tuple<>{}) == std::tuple<>{});

    using V = std::variant<std::monostate, int32_t, std::string, Point, std::vector<int>>;
    for (const V &v :
         {V{}, V{int32_t{-5}}, V{std::string("s")}, V{Point{1, 2}}, V{std::vector<int>{7, 8}}}) {
        V back = round_trip<S>(v);
        CHECK(back.index() == v.index());
        CHECK(back == v);
    }
    // Two alternatives of the same type stay apart (the index travels).
    using Twin = std::variant<int, int>;
    Twin second(std::in_place_index<1>, 9);
    CHECK(round_trip<S>(second).index() == 1);
    CHECK(std::get<1>(round_trip<S>(second)) == 9);
}

TEST_CASE_TEMPLATE("round trip: maps", S, Bincode, MessagePack, Json) {
    std::map<std::string, int> by_name{{"b", 2}, {"a", 1}, {"", 0}};
    CHECK(round_trip<S>(by_name) == by_name);
    std::map<int, std::string> by_number{{-1, "neg"}, {1000000, "big"}};
    CHECK(round_trip<S>(by_number) == by_number);
    std::unordered_map<std::string, std::vector<int>> lists{{"x", {1, 2}}, {"y", {}}};
    CHECK(round_trip<S>(lists) == lists);
    std::map<std::pair<int, int>, std::string> grid{{{0, 0}, "origin"}, {{1, -1}, "se"}};
    CHECK(round_trip<S>(grid) == grid);
    std::map<Color, Point> palette{{Color::Red, {1, 1}}, {Color::Blue, {2, 2}}};
    CHECK(round_trip<S>(palette) == palette);
    CHECK(round_trip<S>(std::map<std::string, int>{}).empty());
}

TEST_CASE_TEMPLATE("round trip: structs, handles, recursion", S, Bincode, MessagePack, Json) {
    CHECK(round_trip<S>(Point{-1, 2}) == Point{-1, 2});
    Everything e = sample();
    CHECK(round_trip<S>(e) == e);
    CHECK(round_trip<S>(Account("ada", -99)) == Account("ada", -99));

    lunatic::Process<int> handle(0x0123456789ABCDEFULL, 42);
    auto back = round_trip<S>(handle);
    CHECK(back == handle);
    CHECK(back.node_id() == 0x0123456789ABCDEFULL);
    CHECK(back.id() == 42);
    Request request{lunatic::Process<std::string>(7, 8), "ping?"};
    CHECK(round_trip<S>(request) == request);
    std::vector<lunatic::Process<int>> handles{{1, 2}, {3, 4}};
    CHECK(round_trip<S>(handles) == handles);

    Node tree{1, {Node{2, {}}, Node{3, {Node{4, {}}}}}};
    CHECK(round_trip<S>(tree) == tree);
    // A value nested right at the limit still travels.
    Node deep = chain(S::max_depth / 2);
    CHECK(chain_depth(round_trip<S>(deep)) == S::max_depth / 2);
}

TEST_CASE_TEMPLATE("decode replaces the previous contents", S, Bincode, MessagePack, Json) {
    std::vector<int> v{1, 2, 3};
    Bytes empty = encode<S>(std::vector<int>{});
    lunatic::detail::decode_payload<S>(empty.data(), empty.size(), v);
    CHECK(v.empty());

    std::optional<int> o = 5;
    Bytes none = encode<S>(std::optional<int>{});
    lunatic::detail::decode_payload<S>(none.data(), none.size(), o);
    CHECK_FALSE(o.has_value());

    std::map<std::string, int> m{{"old", 1}};
    Bytes one = encode<S>(std::map<std::string, int>{{"new", 2}});
    lunatic::detail::decode_payload<S>(one.data(), one.size(), m);
    CHECK(m == std::map<std::string, int>{{"new", 2}});
}

TEST_CASE_TEMPLATE("encode appends to what the message already holds", S, Bincode, MessagePack,
                   Json) {
    Message msg;
    REQUIRE(lunatic_message_append(msg.m, "AB", 2) == LUNATIC_OK);
    lunatic::Writer out(msg.m);
    S::encode(out, Point{5, 6});
    Bytes all = msg.bytes();
    REQUIRE(all.size() > 2);
    CHECK(all[0] == 'A');
    CHECK(all[1] == 'B');
    CHECK(Bytes(all.begin() + 2, all.end()) == encode<S>(Point{5, 6}));
}

// ------------------------------------------------------------ encode errors

TEST_CASE_TEMPLATE("encode: values the format cannot hold", S, Bincode, MessagePack, Json) {
    CHECK_THROWS_AS((encode<S>(std::string("bad \xC3\x28 utf8"))), SerializationError);
    CHECK_THROWS_AS((encode<S>(std::string("\xED\xA0\x80"))), SerializationError);  // surrogate
    CHECK_THROWS_AS((encode<S>(std::vector<std::string>{"ok", "\xFF"})), SerializationError);
    CHECK_THROWS_AS((encode<S>(char32_t(0xD800))), SerializationError);
    CHECK_THROWS_AS((encode<S>(char32_t(0x110000))), SerializationError);
    // Deeper than the decoders accept: refused at the sender.
    CHECK_THROWS_AS((encode<S>(chain(S::max_depth + 1))), SerializationError);
    // A failed encode leaves the message as it was.
    Message msg;
    lunatic::Writer out(msg.m);
    CHECK_THROWS_AS((S::encode(out, std::string("\xC0\x80"))), SerializationError);
    CHECK(lunatic_message_size(msg.m) == 0);
}

TEST_CASE("encode: Bincode enums are u32 indices") {
    CHECK_THROWS_AS((encode<Bincode>(Low)), SerializationError);  // -1
    CHECK_THROWS_AS((encode<Bincode>(Wide::Huge)), SerializationError);
    CHECK_THROWS_AS((encode<Bincode>(std::vector<Level>{High, Low})), SerializationError);
    CHECK(encode<Bincode>(High) == hex("07 00 00 00"));
}

TEST_CASE("encode: Json has no NaN or infinity") {
    CHECK_THROWS_AS((encode<Json>(std::numeric_limits<double>::quiet_NaN())), SerializationError);
    CHECK_THROWS_AS((encode<Json>(std::numeric_limits<float>::infinity())), SerializationError);
    CHECK_THROWS_AS((encode<Json>(std::map<std::string, std::string>{{"\xFF", "x"}})),
                    SerializationError);
}

// ------------------------------------------------------------ golden Bincode

TEST_CASE("golden Bincode: integers, floats, bool") {
    CHECK(encode<Bincode>(uint32_t{1}) == hex("01 00 00 00"));
    CHECK(encode<Bincode>(uint8_t{7}) == hex("07"));
    CHECK(encode<Bincode>(int8_t{-1}) == hex("ff"));
    CHECK(encode<Bincode>(uint16_t{0x1234}) == hex("34 12"));
    CHECK(encode<Bincode>(int32_t{-2}) == hex("fe ff ff ff"));
    CHECK(encode<Bincode>(uint64_t{1}) == hex("01 00 00 00 00 00 00 00"));
    CHECK(encode<Bincode>(std::numeric_limits<int64_t>::min()) == hex("00 00 00 00 00 00 00 80"));
    CHECK(encode<Bincode>(0x0102030405060708LL) == hex("08 07 06 05 04 03 02 01"));
    CHECK(encode<Bincode>('A') == hex("41"));
    CHECK(encode<Bincode>(std::byte{0x9C}) == hex("9c"));
    CHECK(encode<Bincode>(true) == hex("01"));
    CHECK(encode<Bincode>(false) == hex("00"));
    CHECK(encode<Bincode>(1.0f) == hex("00 00 80 3f"));
    CHECK(encode<Bincode>(1.0) == hex("00 00 00 00 00 00 f0 3f"));
    CHECK(encode<Bincode>(-0.0) == hex("00 00 00 00 00 00 00 80"));
    CHECK(encode<Bincode>(-2.5f) == hex("00 00 20 c0"));

    CHECK(decode<Bincode, int32_t>(hex("fe ff ff ff")) == -2);
    CHECK(decode<Bincode, uint16_t>(hex("34 12")) == 0x1234);
    CHECK(decode<Bincode, double>(hex("00 00 00 00 00 00 f0 3f")) == 1.0);
    CHECK(decode<Bincode, bool>(hex("01")) == true);
}

TEST_CASE("golden Bincode: char is UTF-8 like Rust's char") {
    CHECK(encode<Bincode>(U'a') == hex("61"));
    CHECK(encode<Bincode>(U'é') == hex("c3 a9"));
    CHECK(encode<Bincode>(U'€') == hex("e2 82 ac"));
    CHECK(encode<Bincode>(U'\U0001F600') == hex("f0 9f 98 80"));
    CHECK(decode<Bincode, char32_t>(hex("e2 82 ac")) == U'€');
    CHECK(decode<Bincode, char32_t>(hex("f4 8f bf bf")) == U'\U0010FFFF');
}

TEST_CASE("golden Bincode: strings, sequences, arrays") {
    CHECK(encode<Bincode>(std::string("hi")) == hex("02 00 00 00 00 00 00 00 68 69"));
    CHECK(encode<Bincode>(std::string()) == hex("00 00 00 00 00 00 00 00"));
    CHECK(encode<Bincode>(std::string("é")) == hex("02 00 00 00 00 00 00 00 c3 a9"));
    CHECK(encode<Bincode>(std::vector<uint8_t>{1, 2, 3}) ==
          hex("03 00 00 00 00 00 00 00 01 02 03"));
    CHECK(encode<Bincode>(std::vector<uint16_t>{1, 2}) ==
          hex("02 00 00 00 00 00 00 00 01 00 02 00"));
    CHECK(encode<Bincode>(std::vector<bool>{true, false}) == hex("02 00 00 00 00 00 00 00 01 00"));
    CHECK(encode<Bincode>(std::vector<std::string>{"a"}) ==
          hex("01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 61"));
    CHECK(encode<Bincode>(std::vector<std::monostate>(3)) == hex("03 00 00 00 00 00 00 00"));
    // Rust arrays [T; N] and tuples have no length prefix.
    CHECK(encode<Bincode>(std::array<uint8_t, 3>{1, 2, 3}) == hex("01 02 03"));
    CHECK(encode<Bincode>(std::array<uint32_t, 2>{1, 2}) == hex("01 00 00 00 02 00 00 00"));
    CHECK(encode<Bincode>(std::set<uint8_t>{3, 1}) == hex("02 00 00 00 00 00 00 00 01 03"));

    CHECK(decode<Bincode, std::string>(hex("02 00 00 00 00 00 00 00 68 69")) == "hi");
    CHECK(decode<Bincode, std::vector<uint16_t>>(hex("02 00 00 00 00 00 00 00 01 00 02 00")) ==
          std::vector<uint16_t>{1, 2});
}

TEST_CASE("golden Bincode: Option, tuples, unit") {
    CHECK(encode<Bincode>(std::optional<uint8_t>{5}) == hex("01 05"));
    CHECK(encode<Bincode>(std::optional<uint8_t>{}) == hex("00"));
    CHECK(encode<Bincode>(std::optional<std::string>{"a"}) == hex("01 01 00 00 00 00 00 00 00 61"));
    CHECK(encode<Bincode>(std::vector<std::optional<uint8_t>>{std::nullopt, 1}) ==
          hex("02 00 00 00 00 00 00 00 00 01 01"));
    CHECK(encode<Bincode>(std::pair<uint8_t, uint16_t>{1, 2}) == hex("01 02 00"));
    CHECK(encode<Bincode>(std::tuple<uint8_t, bool, int16_t>{1, true, -1}) == hex("01 01 ff ff"));
    CHECK(encode<Bincode>(std::monostate{}).empty());
    CHECK(encode<Bincode>(std::tuple<>{}).empty());
    CHECK(decode<Bincode, std::optional<uint8_t>>(hex("01 05")) == std::optional<uint8_t>{5});
    CHECK(decode<Bincode, std::optional<uint8_t>>(hex("00")) == std::nullopt);
}

TEST_CASE("golden Bincode: maps") {
    // BTreeMap<u8, String> {1: "a", 2: "b"}
    CHECK(encode<Bincode>(std::map<uint8_t, std::string>{{1, "a"}, {2, "b"}}) ==
          hex("02 00 00 00 00 00 00 00"
              "01 01 00 00 00 00 00 00 00 61"
              "02 01 00 00 00 00 00 00 00 62"));
    // BTreeMap<String, u32> {"k": 7}
    CHECK(encode<Bincode>(std::map<std::string, uint32_t>{{"k", 7}}) ==
          hex("01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 6b 07 00 00 00"));
}

TEST_CASE("golden Bincode: enums and variants") {
    // enum Color { Red, Green, Blue }: Green is variant 1.
    CHECK(encode<Bincode>(Color::Green) == hex("01 00 00 00"));
    CHECK(decode<Bincode, Color>(hex("02 00 00 00")) == Color::Blue);
    // enum E { A(i32), B(String) }
    using E = std::variant<int32_t, std::string>;
    CHECK(encode<Bincode>(E{std::string("a")}) == hex("01 00 00 00 01 00 00 00 00 00 00 00 61"));
    CHECK(encode<Bincode>(E{int32_t{7}}) == hex("00 00 00 00 07 00 00 00"));
    CHECK(std::get<std::string>(
              decode<Bincode, E>(hex("01 00 00 00 01 00 00 00 00 00 00 00 61"))) == "a");
    // enum F { Unit, Value(u8) }: a unit variant is its index alone.
    using F = std::variant<std::monostate, uint8_t>;
    CHECK(encode<Bincode>(F{}) == hex("00 00 00 00"));
    CHECK(encode<Bincode>(F{uint8_t{9}}) == hex("01 00 00 00 09"));
}

TEST_CASE("golden Bincode: structs and process handles") {
    CHECK(encode<Bincode>(Point{1, 2}) == hex("01 00 00 00 02 00 00 00"));
    CHECK(decode<Bincode, Point>(hex("ff ff ff ff 00 01 00 00")) == Point{-1, 256});
    CHECK(encode<Bincode>(lunatic::Process<int>(1, 2)) ==
          hex("01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00"));
    CHECK(encode<Bincode>(Request{lunatic::Process<std::string>(3, 4), "q"}) ==
          hex("03 00 00 00 00 00 00 00 04 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 71"));
    CHECK(encode<Bincode>(Node{5, {Node{6, {}}}}) ==
          hex("05 00 00 00 01 00 00 00 00 00 00 00 06 00 00 00 00 00 00 00 00 00 00 00"));
    CHECK(encode<Bincode>(Account("x", 1)) ==
          hex("01 00 00 00 00 00 00 00 78 01 00 00 00 00 00 00 00"));
    CHECK(Bincode::encoded_size(sample()) == encode<Bincode>(sample()).size());
}

// ------------------------------------------------------------ golden MessagePack

TEST_CASE("golden MessagePack: integers use the smallest format") {
    CHECK(encode<MessagePack>(0) == hex("00"));
    CHECK(encode<MessagePack>(127) == hex("7f"));
    CHECK(encode<MessagePack>(128) == hex("cc 80"));
    CHECK(encode<MessagePack>(256) == hex("cd 01 00"));
    CHECK(encode<MessagePack>(65536) == hex("ce 00 01 00 00"));
    CHECK(encode<MessagePack>(uint64_t{1} << 32) == hex("cf 00 00 00 01 00 00 00 00"));
    CHECK(encode<MessagePack>(-1) == hex("ff"));
    CHECK(encode<MessagePack>(-32) == hex("e0"));
    CHECK(encode<MessagePack>(-33) == hex("d0 df"));
    CHECK(encode<MessagePack>(-129) == hex("d1 ff 7f"));
    CHECK(encode<MessagePack>(std::numeric_limits<int32_t>::min()) == hex("d2 80 00 00 00"));
    CHECK(encode<MessagePack>(std::numeric_limits<int64_t>::min()) ==
          hex("d3 80 00 00 00 00 00 00 00"));
    CHECK(encode<MessagePack>(Color::Blue) == hex("02"));
    CHECK(encode<MessagePack>(Low) == hex("ff"));
    CHECK(encode<MessagePack>(std::byte{200}) == hex("cc c8"));
    // Any integer format decodes, if the value fits.
    CHECK(decode<MessagePack, int>(hex("d0 05")) == 5);
    CHECK(decode<MessagePack, uint8_t>(hex("cf 00 00 00 00 00 00 00 ff")) == 255);
    CHECK(decode<MessagePack, int64_t>(hex("d3 80 00 00 00 00 00 00 00")) ==
          std::numeric_limits<int64_t>::min());
}

TEST_CASE("golden MessagePack: nil, bool, floats, strings, bin") {
    CHECK(encode<MessagePack>(true) == hex("c3"));
    CHECK(encode<MessagePack>(false) == hex("c2"));
    CHECK(encode<MessagePack>(std::optional<int>{}) == hex("c0"));
    CHECK(encode<MessagePack>(std::optional<int>{3}) == hex("03"));
    CHECK(encode<MessagePack>(std::monostate{}) == hex("c0"));
    CHECK(encode<MessagePack>(1.5f) == hex("ca 3f c0 00 00"));
    CHECK(encode<MessagePack>(1.5) == hex("cb 3f f8 00 00 00 00 00 00"));
    // Integral floats stay floats (msgpack-c's pack_double would write an int).
    CHECK(encode<MessagePack>(1.0) == hex("cb 3f f0 00 00 00 00 00 00"));
    CHECK(encode<MessagePack>(-0.0) == hex("cb 80 00 00 00 00 00 00 00"));
    CHECK(encode<MessagePack>(std::string("hi")) == hex("a2 68 69"));
    CHECK(encode<MessagePack>(std::string()) == hex("a0"));
    CHECK(encode<MessagePack>(std::string(32, 'a')) == hex("d9 20") + Bytes(32, 'a'));
    CHECK(encode<MessagePack>(std::string(256, 'b')) == hex("da 01 00") + Bytes(256, 'b'));
    CHECK(encode<MessagePack>(U'é') == hex("a2 c3 a9"));
    CHECK(encode<MessagePack>(std::vector<uint8_t>{1, 2}) == hex("c4 02 01 02"));
    CHECK(encode<MessagePack>(std::vector<uint8_t>{}) == hex("c4 00"));
    CHECK(encode<MessagePack>(std::vector<std::byte>{std::byte{9}}) == hex("c4 01 09"));
    CHECK(decode<MessagePack, float>(hex("ca 3f c0 00 00")) == 1.5f);
    CHECK(decode<MessagePack, double>(hex("ca 3f c0 00 00")) == 1.5);
    CHECK(decode<MessagePack, double>(hex("05")) == 5.0);  // an int where a float is expected
    CHECK(decode<MessagePack, std::string>(hex("d9 02 68 69")) == "hi");
}

TEST_CASE("golden MessagePack: arrays, maps, structs, variants") {
    CHECK(encode<MessagePack>(std::vector<int>{1, 2, 3}) == hex("93 01 02 03"));
    CHECK(encode<MessagePack>(std::vector<int>(16, 0)) == hex("dc 00 10") + Bytes(16, 0));
    CHECK(encode<MessagePack>(std::vector<int8_t>{-1}) == hex("91 ff"));  // not a bin
    CHECK(encode<MessagePack>(std::array<uint8_t, 2>{1, 2}) == hex("92 01 02"));
    CHECK(encode<MessagePack>(std::pair<int, std::string>{1, "a"}) == hex("92 01 a1 61"));
    CHECK(encode<MessagePack>(std::tuple<>{}) == hex("90"));
    CHECK(encode<MessagePack>(std::map<std::string, int>{{"a", 1}}) == hex("81 a1 61 01"));
    CHECK(encode<MessagePack>(std::map<int, bool>{{1, true}, {2, false}}) == hex("82 01 c3 02 c2"));
    CHECK(encode<MessagePack>(Point{1, 2}) == hex("92 01 02"));
    CHECK(encode<MessagePack>(lunatic::Process<int>(1, 2)) == hex("92 01 02"));
    CHECK(encode<MessagePack>(lunatic::Process<int>(0x100, 0x1FFFFFFFFULL)) ==
          hex("92 cd 01 00 cf 00 00 00 01 ff ff ff ff"));
    CHECK(encode<MessagePack>(Request{lunatic::Process<std::string>(3, 4), "q"}) ==
          hex("92 92 03 04 a1 71"));
    using E = std::variant<int32_t, std::string>;
    CHECK(encode<MessagePack>(E{std::string("a")}) == hex("92 01 a1 61"));
    CHECK(encode<MessagePack>(std::variant<std::monostate, int>{}) == hex("92 00 c0"));
    CHECK(decode<MessagePack, Point>(hex("92 ff 05")) == Point{-1, 5});
    CHECK(std::get<std::string>(decode<MessagePack, E>(hex("92 01 a1 61"))) == "a");
}

// ------------------------------------------------------------ golden Json

TEST_CASE("golden Json") {
    CHECK(text_of(encode<Json>(Point{1, 2})) == R"({"x":1,"y":2})");
    CHECK(text_of(encode<Json>(lunatic::Process<int>(1, 2))) == R"({"node_id":1,"id":2})");
    CHECK(text_of(encode<Json>(Request{lunatic::Process<std::string>(3, 4), "q"})) ==
          R"({"reply_to":{"node_id":3,"id":4},"question":"q"})");
    CHECK(text_of(encode<Json>(std::map<std::string, int>{{"b", 1}, {"a", 2}})) ==
          R"({"a":2,"b":1})");
    CHECK(text_of(encode<Json>(std::map<int, std::string>{{2, "b"}, {1, "a"}})) ==
          R"([[1,"a"],[2,"b"]])");
    CHECK(text_of(encode<Json>(std::variant<int32_t, std::string>{std::string("a")})) ==
          R"({"index":1,"value":"a"})");
    CHECK(text_of(encode<Json>(std::variant<std::monostate, int>{})) ==
          R"({"index":0,"value":null})");
    CHECK(text_of(encode<Json>(std::optional<int>{})) == "null");
    CHECK(text_of(encode<Json>(std::optional<int>{4})) == "4");
    CHECK(text_of(encode<Json>(std::numeric_limits<int64_t>::min())) == "-9223372036854775808");
    CHECK(text_of(encode<Json>(std::numeric_limits<uint64_t>::max())) == "18446744073709551615");
    CHECK(text_of(encode<Json>(1.5)) == "1.5");
    CHECK(text_of(encode<Json>(2.0)) == "2.0");
    CHECK(text_of(encode<Json>(true)) == "true");
    CHECK(text_of(encode<Json>(U'é')) == "\"é\"");
    CHECK(text_of(encode<Json>(Color::Green)) == "1");
    CHECK(text_of(encode<Json>(std::vector<uint8_t>{1, 2})) == "[1,2]");
    CHECK(text_of(encode<Json>(std::tuple<int, std::string, bool>{1, "a", true})) ==
          R"([1,"a",true])");
    CHECK(text_of(encode<Json>(std::string("a\"\n"))) == R"("a\"\n")");
    CHECK(text_of(encode<Json>(std::monostate{})) == "null");

    CHECK(decode_text<Json, Point>(R"( { "y": 2, "x": 1 } )") == Point{1, 2});
    CHECK(decode_text<Json, Point>(R"({"x":1,"y":2,"extra":[1,2,3]})") ==
          Point{1, 2});  // extra ignored
    CHECK(decode_text<Json, lunatic::Process<int>>(R"({"id":5,"node_id":6})") ==
          lunatic::Process<int>(6, 5));
    CHECK(decode_text<Json, std::map<int, std::string>>(R"([[1,"a"]])") ==
          std::map<int, std::string>{{1, "a"}});
    CHECK(decode_text<Json, std::string>(R"("\u00e9\ud83d\ude00")") == "é😀");
    CHECK(decode_text<Json, double>("3") == 3.0);
    CHECK(decode_text<Json, uint64_t>("18446744073709551615") ==
          std::numeric_limits<uint64_t>::max());
    CHECK(decode_text<Json, std::optional<int>>("null") == std::nullopt);
}

// ------------------------------------------------------------ malformed: Bincode

TEST_CASE("malformed Bincode") {
    SUBCASE("truncated") {
        CHECK_THROWS_AS((decode<Bincode, uint32_t>(hex("01 00 00"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, Point>(hex("01 00 00 00 02"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::string>(hex("02 00 00 00"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, int>(Bytes{})), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::optional<int>>(hex("01"))), DeserializationError);
    }
    SUBCASE("lengths larger than the payload") {
        CHECK_THROWS_AS((decode<Bincode, std::string>(hex("05 00 00 00 00 00 00 00 61"))),
                        DeserializationError);
        CHECK_THROWS_AS(
            (decode<Bincode, std::vector<uint8_t>>(hex("03 00 00 00 00 00 00 00 01 02"))),
            DeserializationError);
        // Two u32 need 8 bytes; 7 follow.
        CHECK_THROWS_AS(
            (decode<Bincode, std::vector<uint32_t>>(hex("02 00 00 00 00 00 00 00") + Bytes(7, 0))),
            DeserializationError);
        // Huge claims in tiny payloads: refused before allocating.
        Bytes huge = hex("ff ff ff ff ff ff ff ff");
        CHECK_THROWS_AS((decode<Bincode, std::string>(huge)), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::vector<uint8_t>>(huge)), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::vector<std::string>>(huge)), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::vector<std::optional<Point>>>(huge + hex("00"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::map<int, int>>(huge)), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::set<int>>(huge)), DeserializationError);
        CHECK_THROWS_AS(
            (decode<Bincode, std::vector<std::vector<int>>>(hex("01 00 00 00 00 00 00 00") + huge)),
            DeserializationError);
        // Zero-byte elements: bounded by a budget instead of the payload.
        CHECK_THROWS_AS((decode<Bincode, std::vector<std::monostate>>(huge)), DeserializationError);
        CHECK_THROWS_AS(
            (decode<Bincode, std::vector<std::tuple<>>>(hex("00 00 00 00 01 00 00 00"))),
            DeserializationError);
        CHECK(decode<Bincode, std::vector<std::monostate>>(hex("e8 03 00 00 00 00 00 00")).size() ==
              1000);
        // One budget per decoded value: nested sequences cannot multiply it (found by
        // tests/fuzz: 32 vectors of 2^24 took a second and 512 MiB of address space).
        Bytes nested = hex("02 00 00 00 00 00 00 00") + hex("00 00 00 01 00 00 00 00") +
                       hex("00 00 00 01 00 00 00 00");
        CHECK_THROWS_AS((decode<Bincode, std::vector<std::vector<std::monostate>>>(nested)),
                        DeserializationError);
        CHECK(decode<Bincode, std::vector<std::vector<std::monostate>>>(
                  hex("02 00 00 00 00 00 00 00") + hex("00 00 80 00 00 00 00 00") +
                  hex("00 00 80 00 00 00 00 00"))
                  .size() == 2);
    }
    SUBCASE("invalid UTF-8 in a string") {
        Bytes len2 = hex("02 00 00 00 00 00 00 00");
        CHECK_THROWS_AS((decode<Bincode, std::string>(len2 + hex("c3 28"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::string>(len2 + hex("c0 80"))),
                        DeserializationError);  // overlong
        CHECK_THROWS_AS((decode<Bincode, std::string>(len2 + hex("61 ff"))), DeserializationError);
        Bytes len3 = hex("03 00 00 00 00 00 00 00");
        CHECK_THROWS_AS((decode<Bincode, std::string>(len3 + hex("ed a0 80"))),
                        DeserializationError);  // surrogate
        CHECK_THROWS_AS((decode<Bincode, std::string>(len3 + hex("e2 82 61"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::string>(len3 + hex("61 e2 82"))),
                        DeserializationError);  // cut short
        Bytes len4 = hex("04 00 00 00 00 00 00 00");
        CHECK_THROWS_AS((decode<Bincode, std::string>(len4 + hex("f4 90 80 80"))),
                        DeserializationError);  // > U+10FFFF
        CHECK_THROWS_AS((decode<Bincode, std::string>(len4 + hex("f0 80 80 80"))),
                        DeserializationError);  // overlong
        CHECK(decode<Bincode, std::string>(len4 + hex("f0 9f 98 80")) == "😀");
    }
    SUBCASE("invalid char") {
        CHECK_THROWS_AS((decode<Bincode, char32_t>(hex("ff"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, char32_t>(hex("80"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, char32_t>(hex("ed a0 80"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, char32_t>(hex("f4 90 80 80"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, char32_t>(hex("f0 9f 98"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, char32_t>(hex("c3 41"))), DeserializationError);
    }
    SUBCASE("bool, option, variant and enum tags") {
        CHECK_THROWS_AS((decode<Bincode, bool>(hex("02"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, bool>(hex("ff"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::vector<bool>>(hex("02 00 00 00 00 00 00 00 01 02"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, std::optional<uint8_t>>(hex("02 05"))),
                        DeserializationError);
        using E = std::variant<int32_t, std::string>;
        CHECK_THROWS_AS((decode<Bincode, E>(hex("02 00 00 00 00 00 00 00"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, E>(hex("ff ff ff ff 00 00 00 00"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, Color>(hex("00 01 00 00"))),
                        DeserializationError);  // 256 > uint8_t
    }
    SUBCASE("trailing bytes") {
        CHECK_THROWS_AS((decode<Bincode, uint32_t>(hex("01 00 00 00 00"))), DeserializationError);
        CHECK_THROWS_AS((decode<Bincode, Point>(encode<Bincode>(Point{1, 2}) + hex("00"))),
                        DeserializationError);
    }
    SUBCASE("nesting deeper than the limit") {
        // Node { value, children: [Node { ... }] } 10000 levels deep, in 120 kB.
        Bytes level = hex("00 00 00 00 01 00 00 00 00 00 00 00");
        Bytes payload = repeat(level, 10000) + hex("00 00 00 00 00 00 00 00 00 00 00 00");
        CHECK_THROWS_AS((decode<Bincode, Node>(payload)), DeserializationError);
        CHECK_THROWS_AS(
            (decode<Bincode, Node>(repeat(level, Bincode::max_depth / 2) + Bytes(12, 0))),
            DeserializationError);
        CHECK(chain_depth(decode<Bincode, Node>(repeat(level, Bincode::max_depth / 2 - 1) +
                                                Bytes(12, 0))) == Bincode::max_depth / 2);
    }
}

// ------------------------------------------------------------ malformed: MessagePack

TEST_CASE("malformed MessagePack") {
    SUBCASE("truncated and empty") {
        CHECK_THROWS_AS((decode<MessagePack, int>(Bytes{})), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, Point>(hex("92 01"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, uint32_t>(hex("ce 00 01"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, double>(hex("cb 3f f0"))), DeserializationError);
    }
    SUBCASE("lengths larger than the payload") {
        CHECK_THROWS_AS((decode<MessagePack, std::string>(hex("a5 68 69"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, std::string>(hex("db ff ff ff ff 61"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, std::vector<uint8_t>>(hex("c6 ff ff ff ff 00"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, std::vector<int>>(hex("dd ff ff ff ff"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, std::vector<int>>(hex("dd ff ff ff ff 01 02"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, std::map<int, int>>(hex("df ff ff ff ff 01 02"))),
                        DeserializationError);
        // Nested huge claims: each would make msgpack-c allocate its elements
        // up front; the first pass refuses them before anything is built.
        Bytes nested = repeat(hex("dd 00 0f ff ff"), 100);
        CHECK_THROWS_AS((decode<MessagePack, std::vector<std::vector<int>>>(nested)),
                        DeserializationError);
    }
    SUBCASE("invalid UTF-8") {
        CHECK_THROWS_AS((decode<MessagePack, std::string>(hex("a2 c3 28"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, std::string>(hex("a3 ed a0 80"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, char32_t>(hex("a1 ff"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, char32_t>(hex("a2 61 62"))),
                        DeserializationError);  // two chars
        CHECK_THROWS_AS((decode<MessagePack, char32_t>(hex("a0"))), DeserializationError);
    }
    SUBCASE("trailing bytes") {
        CHECK_THROWS_AS((decode<MessagePack, int>(hex("01 02"))), DeserializationError);
        // Even through a bare Reader: MessagePack takes the rest of the payload.
        Bytes b = hex("92 01 02 c0");
        lunatic::Reader in(b.data(), b.size());
        Point p;
        CHECK_THROWS_AS((MessagePack::decode(in, p)), DeserializationError);
    }
    SUBCASE("wrong types and values") {
        CHECK_THROWS_AS((decode<MessagePack, bool>(hex("02"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, bool>(hex("c1"))),
                        DeserializationError);  // never-used byte
        CHECK_THROWS_AS((decode<MessagePack, int>(hex("a1 31"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, uint8_t>(hex("cd 01 00"))),
                        DeserializationError);                                              // 256
        CHECK_THROWS_AS((decode<MessagePack, uint32_t>(hex("ff"))), DeserializationError);  // -1
        CHECK_THROWS_AS((decode<MessagePack, int8_t>(hex("d1 ff 7f"))),
                        DeserializationError);  // -129
        CHECK_THROWS_AS((decode<MessagePack, int>(hex("cb 3f f0 00 00 00 00 00 00"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, float>(hex("cb 7f ef ff ff ff ff ff ff"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, Color>(hex("cd 01 00"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, Point>(hex("93 01 02 03"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, Point>(hex("82 a1 78 01 a1 79 02"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, std::array<int, 2>>(hex("91 01"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, std::string>(hex("c4 01 61"))),
                        DeserializationError);  // bin
        CHECK_THROWS_AS((decode<MessagePack, std::vector<uint8_t>>(hex("a1 61"))),
                        DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, std::monostate>(hex("00"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, int>(hex("d4 01 00"))), DeserializationError);  // ext
    }
    SUBCASE("bad variants") {
        using E = std::variant<int32_t, std::string>;
        CHECK_THROWS_AS((decode<MessagePack, E>(hex("92 02 01"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, E>(hex("92 ff 01"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, E>(hex("92 00 a1 61"))),
                        DeserializationError);  // wrong alternative type
        CHECK_THROWS_AS((decode<MessagePack, E>(hex("91 00"))), DeserializationError);
        CHECK_THROWS_AS((decode<MessagePack, E>(hex("01"))), DeserializationError);
    }
    SUBCASE("nesting deeper than the limit") {
        Bytes deep = Bytes(100000, 0x91) + hex("c0");
        CHECK_THROWS_AS((decode<MessagePack, Node>(deep)), DeserializationError);
        // [v, [[v, [...]]]]: a Node chain is 2 arrays per level.
        Bytes level = hex("92 00 91");
        CHECK_THROWS_AS((decode<MessagePack, Node>(repeat(level, MessagePack::max_depth / 2) +
                                                   hex("92 00 90"))),
                        DeserializationError);
        CHECK(chain_depth(decode<MessagePack, Node>(repeat(level, MessagePack::max_depth / 2 - 1) +
                                                    hex("92 00 90"))) ==
              MessagePack::max_depth / 2);
    }
}

// ------------------------------------------------------------ malformed: Json

TEST_CASE("malformed Json") {
    SUBCASE("truncated and empty") {
        CHECK_THROWS_AS((decode_text<Json, int>("")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, int>("   ")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, Point>(R"({"x":1,"y":)")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::string>(R"("abc)")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::vector<int>>("[1,2")), DeserializationError);
    }
    SUBCASE("invalid UTF-8 and escapes") {
        CHECK_THROWS_AS((decode_text<Json, std::string>("\"\xC3\x28\"")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::string>("\"\xED\xA0\x80\"")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::string>(R"("\ud800")")),
                        DeserializationError);  // lone surrogate
        CHECK_THROWS_AS((decode_text<Json, std::string>(R"("\x41")")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, char32_t>(R"("ab")")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, char32_t>(R"("")")), DeserializationError);
    }
    SUBCASE("trailing bytes") {
        CHECK_THROWS_AS((decode_text<Json, int>("1 2")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, Point>(R"({"x":1,"y":2}x)")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, Point>(R"({"x":1,"y":2}{})")), DeserializationError);
        std::string text = "[1]]";
        lunatic::Reader in(reinterpret_cast<const uint8_t *>(text.data()), text.size());
        std::vector<int> v;
        CHECK_THROWS_AS((Json::decode(in, v)), DeserializationError);
    }
    SUBCASE("wrong types and values") {
        CHECK_THROWS_AS((decode_text<Json, bool>("2")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, bool>(R"("true")")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, int>("1.5")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, int>(R"("1")")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, uint8_t>("256")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, uint32_t>("-1")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, int64_t>("9223372036854775808")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, uint64_t>("18446744073709551616")),
                        DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, double>("1e400")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, float>("1e300")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, double>("NaN")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, Point>(R"({"x":1})")),
                        DeserializationError);  // missing field
        CHECK_THROWS_AS((decode_text<Json, Point>("[1,2]")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::pair<int, int>>("[1,2,3]")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::map<int, int>>(R"({"1":2})")),
                        DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::map<int, int>>("[[1,2,3]]")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::map<std::string, int>>(R"([["a",1]])")),
                        DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::optional<int>>(R"("x")")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::monostate>("0")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, int>("// comment\n1")), DeserializationError);
    }
    SUBCASE("bad variants") {
        using E = std::variant<int32_t, std::string>;
        CHECK_THROWS_AS((decode_text<Json, E>(R"({"index":2,"value":1})")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, E>(R"({"index":-1,"value":1})")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, E>(R"({"index":0})")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, E>(R"({"value":1})")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, E>(R"({"index":0,"value":"a"})")), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, E>("[0,1]")), DeserializationError);
        CHECK(std::get<int32_t>(decode_text<Json, E>(R"({"value":3,"index":0})")) == 3);
    }
    SUBCASE("nesting deeper than the limit") {
        std::string deep = std::string(100000, '[') + std::string(100000, ']');
        CHECK_THROWS_AS((decode_text<Json, Node>(deep)), DeserializationError);
        CHECK_THROWS_AS((decode_text<Json, std::vector<int>>(std::string(100000, '['))),
                        DeserializationError);
        // {"value":0,"children":[{...}]}: a Node chain is 2 levels per node.
        auto nodes = [](int n) {
            std::string s;
            for (int i = 0; i < n - 1; ++i) s += R"({"value":0,"children":[)";
            s += R"({"value":0,"children":[]})";
            for (int i = 0; i < n - 1; ++i) s += "]}";
            return s;
        };
        CHECK_THROWS_AS((decode_text<Json, Node>(nodes(Json::max_depth / 2 + 1))),
                        DeserializationError);
        CHECK(chain_depth(decode_text<Json, Node>(nodes(Json::max_depth / 2))) ==
              Json::max_depth / 2);
    }
}

// ------------------------------------------------------------ never crash

TEST_CASE_TEMPLATE("every truncation of a payload is rejected", S, Bincode, MessagePack, Json) {
    // The formats are self-delimiting for a struct: no strict prefix is a whole value.
    Bytes full = encode<S>(sample());
    REQUIRE(full.size() > 100);
    size_t rejected = 0;
    for (size_t n = 0; n < full.size(); ++n) {
        Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        try {
            (void)decode<S, Everything>(prefix);
        } catch (const DeserializationError &) {
            ++rejected;
        }
    }
    CHECK(rejected == full.size());
    CHECK(decode<S, Everything>(full) == sample());
}

TEST_CASE_TEMPLATE("corrupted payloads decode or throw DeserializationError", S, Bincode,
                   MessagePack, Json) {
    // Anything but a DeserializationError escaping (or a crash) fails the test.
    Bytes full = encode<S>(sample());
    std::mt19937 rng(12345);
    int rejected = 0;
    const int rounds = 3000;
    for (int round = 0; round < rounds; ++round) {
        Bytes b = full;
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < flips; ++i) {
            size_t at = rng() % b.size();
            switch (rng() % 3) {
            case 0:
                b[at] = static_cast<uint8_t>(rng());
                break;
            case 1:
                b[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
                break;
            default:
                b[at] = (rng() % 2) ? 0xff : 0x00;
                break;
            }
        }
        try {
            (void)decode<S, Everything>(b);
        } catch (const DeserializationError &) {
            ++rejected;
        }
    }
    CHECK(rejected > 0);
    CHECK(rejected <= rounds);
}

TEST_CASE_TEMPLATE("random bytes decode or throw DeserializationError", S, Bincode, MessagePack,
                   Json) {
    std::mt19937 rng(777);
    int rejected = 0;
    for (int round = 0; round < 3000; ++round) {
        Bytes b(rng() % 64);
        for (auto &x : b) x = static_cast<uint8_t>(rng());
        try {
            (void)decode<
                S, std::vector<std::variant<Node, std::map<std::string, std::optional<Point>>>>>(b);
        } catch (const DeserializationError &) {
            ++rejected;
        }
    }
    CHECK(rejected > 2000);
}
