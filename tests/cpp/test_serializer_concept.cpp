// A serializer written by a user. Modelling lunatic::SerializerFor is all it
// takes: two static function templates over lunatic::Writer / lunatic::Reader.
// Then Process<M, Text> and Mailbox<M, Text> carry messages encoded with it.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <atomic>
#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

namespace text_example {

/// Integers as decimal digits ("-42"), strings as their UTF-8 bytes. A payload
/// holds exactly one value, so decode takes the rest of it.
struct Text {
    template <class T>
    static constexpr bool is_number =
        std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>;

    template <class T>
    requires is_number<T>
    static void encode(lunatic::Writer &out, const T &value) {
        char digits[24];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
        (void)ec;  // 24 characters hold any 64-bit integer
        out.write(digits, static_cast<std::size_t>(end - digits));
    }

    template <class T>
    requires std::same_as<T, std::string>
    static void encode(lunatic::Writer &out, const T &value) {
        out.write(value.data(), value.size());
    }

    template <class T>
    requires is_number<T>
    static void decode(lunatic::Reader &in, T &value) {
        std::size_t n = 0;
        const char *text = reinterpret_cast<const char *>(in.take_rest(&n));
        auto [end, ec] = std::from_chars(text, text + n, value);
        if (n == 0 || ec != std::errc() || end != text + n)
            throw lunatic::DeserializationError("Text: \"" + std::string(text, n) +
                                                "\" is not a decimal integer of the expected type");
    }

    template <class T>
    requires std::same_as<T, std::string>
    static void decode(lunatic::Reader &in, T &value) {
        std::size_t n = 0;
        const char *text = reinterpret_cast<const char *>(in.take_rest(&n));
        value.assign(text, n);
    }
};

static_assert(lunatic::SerializerFor<Text, int>);
static_assert(lunatic::SerializerFor<Text, uint64_t>);
static_assert(lunatic::SerializerFor<Text, std::string>);
static_assert(!lunatic::SerializerFor<Text, double>);
static_assert(!lunatic::SerializerFor<Text, std::vector<int>>);
static_assert(!lunatic::SerializerFor<Text, bool>);

std::string encode_text(auto value) {
    lunatic_message *m = nullptr;
    REQUIRE(lunatic_message_new(0, 0, &m) == LUNATIC_OK);
    lunatic::Writer out(m);
    Text::encode(out, value);
    std::string text(reinterpret_cast<const char *>(lunatic_message_data(m)),
                     lunatic_message_size(m));
    lunatic_message_free(m);
    return text;
}

template <class T>
T decode_text(const std::string &text) {
    T value{};
    lunatic::detail::decode_payload<Text>(reinterpret_cast<const uint8_t *>(text.data()),
                                          text.size(), value);
    return value;
}

}  // namespace text_example

using text_example::Text;

TEST_CASE("a user-written serializer: Text") {
    using text_example::decode_text;
    using text_example::encode_text;
    CHECK(encode_text(42) == "42");
    CHECK(encode_text(-7L) == "-7");
    CHECK(encode_text(uint64_t{18446744073709551615ULL}) == "18446744073709551615");
    CHECK(encode_text(std::string("héllo")) == "héllo");

    CHECK(decode_text<int>("123") == 123);
    CHECK(decode_text<int>("-5") == -5);
    CHECK(decode_text<std::string>("any bytes") == "any bytes");
    CHECK_THROWS_AS(decode_text<int>("12x"), lunatic::DeserializationError);
    CHECK_THROWS_AS(decode_text<int>(""), lunatic::DeserializationError);
    CHECK_THROWS_AS(decode_text<uint8_t>("300"), lunatic::DeserializationError);
    CHECK_THROWS_AS(decode_text<unsigned>("-1"), lunatic::DeserializationError);
}

TEST_CASE("a user-written serializer carries messages between processes") {
    using namespace std::chrono_literals;
    int failures = lunatic::main([](lunatic::Mailbox<std::string, Text> mailbox) {
        int failed = 0;
        lunatic::Process<std::string, Text> self = mailbox.this_process();
        self.send("héllo");
        if (mailbox.receive() != "héllo") failed |= 1;

        // The same mailbox read as numbers: "12" is one, "x1" is not.
        lunatic::Mailbox<int, Text> numbers;
        self.send("12");
        self.send("x1");
        auto first = numbers.receive_timeout(5s);
        if (!first.is_message() || first.value() != 12) failed |= 2;
        auto second = numbers.receive_timeout(5s);
        if (!second.is_deserialization_failed()) failed |= 4;

        // A capture travels encoded with Text too.
        static std::atomic<int> child_sum{0};
        child_sum = 0;
        lunatic::Process<int, Text> child = lunatic::Process<int, Text>::spawn(
            41, [](int capture, lunatic::Mailbox<int, Text> inbox) {
                child_sum = capture + inbox.receive();
            });
        child.send(1);
        for (int i = 0; i < 2500 && child_sum.load() == 0; ++i) lunatic::sleep(2ms);
        if (child_sum.load() != 42) failed |= 8;
        return failed;
    });
    CHECK(failures == 0);
}
