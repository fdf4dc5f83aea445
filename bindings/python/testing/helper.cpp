// _lunatic_testhelper: C++ processes and C++ encodings for the Python tests
// (built by meson for tests/python only; never installed).
//
// Importing it registers these entries (lunatic_entry_register), which
// Python spawns with lunatic.spawn_named:
//
//   lunatic_test.echo_msgpack / .echo_json    capture: int64 n. Serves n Requests
//       {reply_to, text, n}: replies Reply{text + "!", n * 2, <its own handle>}
//       to reply_to (Python -> C++ -> Python).
//   lunatic_test.greeter_msgpack / .greeter_json    capture: a Python process's
//       handle. Sends it Hello{<its own handle>, "hello from C++"}, waits for a
//       string s, sends back "got: " + s (C++ -> Python -> C++ -> Python).
//   lunatic_test.protocol_add_msgpack / .protocol_add_json    capture: a
//       lunatic::ProtocolCapture<int64_t> {process, tag, capture}. Follows
//       Recv<int, Recv<int, Send<int, End>>> with process on tag (built with
//       Protocol<P, S>::from_process): sends capture + a + b (a session with Python).
//   lunatic_test.registered_i32_msgpack    capture: [name, reply_to]. Registers
//       itself as name the C++ way (Process<int32_t, MessagePack>::register_name,
//       key type "i32/msgpack"), sends reply_to 0, waits for an int32 n, sends
//       reply_to n + 1 and ends (which frees the name).
//
//   lunatic_test.doubler_msgpack / .doubler_json    capture: int64 n. A plain
//       C++ server: serves n lunatic::Request<int64_t, int64_t, S>, replying
//       body * 2 (Python's lunatic.request -> C++).
//   lunatic_test.requester_msgpack / .requester_json    capture: [server, n,
//       report_to]. Calls lunatic::request(server, n, 5 s) on a
//       Request<int64_t, int64_t, S> server and sends report_to "ok:<reply>",
//       "died:<reason text>", "timeout" or "error:<what>" (C++ -> Python server).
//   lunatic_test.counter_server_msgpack    capture: report_to. Starts a C++
//       AbstractProcess (CppCounter at 10: MessageHandler<CAdd{n}>,
//       RequestHandler<CGet{unused}>, MessagePack) and sends report_to its handle
//       (a Python ProcessRef talks to a C++ server).
//
// and encode_examples(kind) / json_doubles(values) give the bytes the C++
// serializers write, for byte-compatibility tests; lookup_send_i32(name, n)
// does a typed C++ lookup (Process<int32_t, MessagePack>::lookup) and sends n
// to what it finds; registry_types() gives C++ registry_type<M, S>() strings.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include <lunatic/json.hpp>
#include <lunatic/lunatic.hpp>
#include <lunatic/msgpack.hpp>
#include <lunatic/protocol.hpp>

namespace py = pybind11;
using namespace std::chrono_literals;

namespace {

template <class S>
struct Reply {
    std::string text;
    int64_t n;
    lunatic::Process<std::string, S> from;
    LUNATIC_FRIEND_FIELDS(Reply, text, n, from)
};
template <class S>
struct Request {
    lunatic::Process<Reply<S>, S> reply_to;
    std::string text;
    int64_t n;
    LUNATIC_FRIEND_FIELDS(Request, reply_to, text, n)
};
template <class S>
struct Hello {
    lunatic::Process<std::string, S> from;
    std::string text;
    LUNATIC_FRIEND_FIELDS(Hello, from, text)
};

struct Point {
    int32_t x;
    int32_t y;
};
LUNATIC_FIELDS(Point, x, y)

// Every entry's body runs inside this: a kill unwinds to a plain failure, any
// other exception becomes the process's failure text (none crosses the C ABI).
template <class Body>
int guarded(Body &&body) noexcept {
    try {
        return body();
    } catch (const lunatic::Killed &) {
        return 1;
    } catch (const std::exception &e) {
        lunatic_fail(e.what());
        return 1;
    }
}

template <class S>
int echo(const uint8_t *capture, size_t len, void *) {
    return guarded([&] {
        int64_t count = 0;
        lunatic::detail::decode_payload<S>(capture, len, count);
        lunatic::Mailbox<Request<S>, S> mailbox;
        auto me = lunatic::Process<std::string, S>(mailbox.this_process().raw());
        for (int64_t i = 0; i < count; ++i) {
            auto r = mailbox.receive_timeout(20s);
            if (!r) {
                lunatic_fail(r.is_timed_out() ? "echo: no request within 20 s" : r.error().c_str());
                return 1;
            }
            r->reply_to.send(Reply<S>{r->text + "!", r->n * 2, me});
        }
        return 0;
    });
}

template <class S>
int greeter(const uint8_t *capture, size_t len, void *) {
    return guarded([&] {
        lunatic::Process<Hello<S>, S> target;
        lunatic::detail::decode_payload<S>(capture, len, target);
        lunatic::Mailbox<std::string, S> mailbox;
        target.send(Hello<S>{mailbox.this_process(), "hello from C++"});
        auto r = mailbox.receive_timeout(20s);
        if (!r) {
            lunatic_fail(r.is_timed_out() ? "greeter: no answer within 20 s" : r.error().c_str());
            return 1;
        }
        lunatic::Process<std::string, S>(target.raw()).send("got: " + *r);
        return 0;
    });
}

// A plain C++ server of Request<int64_t, int64_t, S>.
template <class S>
int doubler(const uint8_t *capture, size_t len, void *) {
    return guarded([&] {
        int64_t count = 0;
        lunatic::detail::decode_payload<S>(capture, len, count);
        lunatic::Mailbox<lunatic::Request<int64_t, int64_t, S>, S> mailbox;
        for (int64_t i = 0; i < count; ++i) {
            auto r = mailbox.receive_timeout(20s);
            if (!r) {
                lunatic_fail(r.is_timed_out() ? "doubler: no request within 20 s"
                                              : r.error().c_str());
                return 1;
            }
            r->reply(r->body * 2);
        }
        return 0;
    });
}

// A C++ client of a Request<int64_t, int64_t, S> server (written in Python).
template <class S>
int requester(const uint8_t *capture, size_t len, void *) {
    return guarded([&] {
        std::tuple<lunatic::Process<int, S>, int64_t, lunatic::Process<std::string, S>> arg;
        lunatic::detail::decode_payload<S>(capture, len, arg);
        lunatic::Process<lunatic::Request<int64_t, int64_t, S>, S> server(std::get<0>(arg).raw());
        std::string result;
        try {
            result = "ok:" + std::to_string(lunatic::request(server, std::get<1>(arg), 5s));
        } catch (const lunatic::ServerDied &e) {
            result = "died:" + e.reason_text();
        } catch (const lunatic::TimeoutError &) {
            result = "timeout";
        } catch (const lunatic::Error &e) {
            result = std::string("error:") + e.what();
        }
        std::get<2>(arg).send(result);
        return 0;
    });
}

struct CAdd {
    int32_t n;
};
LUNATIC_FIELDS(CAdd, n)
struct CGet {
    int32_t unused = 0;
};
LUNATIC_FIELDS(CGet, unused)

struct CppCounter : lunatic::AbstractProcess<CppCounter> {
    using Arg = int32_t;
    using Serializer = lunatic::MessagePack;
    using Handlers =
        lunatic::Handlers<lunatic::MessageHandler<CAdd>, lunatic::RequestHandler<CGet>>;
    int32_t count = 0;
    explicit CppCounter(int32_t start) : count(start) {}
    void handle(CAdd add) { count += add.n; }
    int32_t handle(CGet) { return count; }
};

int counter_server(const uint8_t *capture, size_t len, void *) {
    using Msgpack = lunatic::MessagePack;
    return guarded([&] {
        lunatic::Process<lunatic::Process<int, Msgpack>, Msgpack> report_to;
        lunatic::detail::decode_payload<Msgpack>(capture, len, report_to);
        auto ref = CppCounter::start(10);
        report_to.send(lunatic::Process<int, Msgpack>(ref.raw()));
        return 0;
    });
}

// Registers itself under a name as a C++ Process<int32_t, MessagePack>, then serves one request.
int registered_i32(const uint8_t *capture, size_t len, void *) {
    using Msgpack = lunatic::MessagePack;
    return guarded([&] {
        std::pair<std::string, lunatic::Process<int32_t, Msgpack>> arg;
        lunatic::detail::decode_payload<Msgpack>(capture, len, arg);
        lunatic::Mailbox<int32_t, Msgpack> mailbox;
        mailbox.this_process().register_name(arg.first);
        arg.second.send(0);
        auto r = mailbox.receive_timeout(20s);
        if (!r) {
            lunatic_fail(r.is_timed_out() ? "registered_i32: nothing within 20 s"
                                          : r.error().c_str());
            return 1;
        }
        arg.second.send(*r + 1);
        return 0;
    });
}

// The C++ end of the Add session, capture: lunatic::ProtocolCapture<int64_t>
// ({process, tag, capture}). Receives a and b on the session's tag, sends capture + a + b.
using AddProtocol = lunatic::Recv<int, lunatic::Recv<int, lunatic::Send<int, lunatic::End>>>;

template <class S>
int protocol_add(const uint8_t *capture, size_t len, void *) {
    return guarded([&] {
        lunatic::ProtocolCapture<int64_t> arg;
        lunatic::detail::decode_payload<S>(capture, len, arg);
        auto protocol =
            lunatic::Protocol<AddProtocol, S>::from_process(arg.process, lunatic::Tag(arg.tag));
        auto r1 = std::move(protocol).receive_timeout(20s);
        if (!r1) {
            lunatic_fail("protocol_add: no first int within 20 s");
            return 1;
        }
        auto [p1, a] = std::move(*r1);
        auto r2 = std::move(p1).receive_timeout(20s);
        if (!r2) {
            lunatic_fail("protocol_add: no second int within 20 s");
            return 1;
        }
        auto [p2, b] = std::move(*r2);
        std::move(p2).send(static_cast<int>(arg.capture) + a + b);
        return 0;
    });
}

template <class S, class T>
py::bytes encode(const T &value) {
    lunatic_message *m = lunatic::detail::encode_message<S>(lunatic::Tag::none(), value);
    py::bytes out(reinterpret_cast<const char *>(lunatic_message_data(m)), lunatic_message_size(m));
    lunatic_message_free(m);
    return out;
}

enum class Color { Red, Green, Blue };

template <class S>
py::dict examples() {
    py::dict d;
    d["true"] = encode<S>(true);
    d["u32_1"] = encode<S>(uint32_t{1});
    d["i32_-2"] = encode<S>(int32_t{-2});
    d["-33"] = encode<S>(int32_t{-33});
    d["200"] = encode<S>(int32_t{200});
    d["u64_max"] = encode<S>(UINT64_MAX);
    d["i64_min"] = encode<S>(INT64_MIN);
    d["1.5"] = encode<S>(1.5);
    d["2.0"] = encode<S>(2.0);
    d["-0.0"] = encode<S>(-0.0);
    d["0.1"] = encode<S>(0.1);
    d["1e300"] = encode<S>(1e300);
    d["1e15"] = encode<S>(1e15);
    d["hi"] = encode<S>(std::string("hi"));
    d["unicode"] = encode<S>(std::string("\xe2\x82\xac\n\"\\\x01\x7f"));
    d["long_str"] = encode<S>(std::string(40, 'a'));
    d["bytes_1_2"] = encode<S>(std::vector<uint8_t>{1, 2});
    d["vec_i64"] = encode<S>(std::vector<int64_t>{1, -1, 300});
    d["point"] = encode<S>(Point{1, 2});
    d["map_str_int"] = encode<S>(std::map<std::string, int>{{"b", 1}, {"a", 2}});
    d["map_int_str"] = encode<S>(std::map<int, std::string>{{1, "a"}});
    d["optional_empty"] = encode<S>(std::optional<int>{});
    d["optional_5"] = encode<S>(std::optional<int>{5});
    d["variant_a"] = encode<S>(std::variant<int32_t, std::string>{std::string("a")});
    d["tuple"] = encode<S>(std::tuple<int, std::string, bool>{1, "a", true});
    d["color_green"] = encode<S>(Color::Green);
    d["process_1_2"] = encode<S>(lunatic::Process<int, S>(1, 2));
    d["process_big"] = encode<S>(lunatic::Process<int, S>(0x100, 0x1FFFFFFFFULL));
    d["nested"] = encode<S>(std::vector<std::vector<int>>{{1}, {}, {2, 3}});
    return d;
}

// Decodes data as T with S and encodes it again (what a C++ receiver makes of Python's bytes).
template <class S, class T>
py::bytes reencode(const py::bytes &data) {
    std::string s = data;
    T value{};
    lunatic::detail::decode_payload<S>(reinterpret_cast<const uint8_t *>(s.data()), s.size(),
                                       value);
    return encode<S>(value);
}

template <class S>
py::bytes reencode_as(const std::string &type, const py::bytes &data) {
    if (type == "point") return reencode<S, Point>(data);
    if (type == "map_str_int") return reencode<S, std::map<std::string, int>>(data);
    if (type == "map_int_str") return reencode<S, std::map<int, std::string>>(data);
    if (type == "process") return reencode<S, lunatic::Process<int, S>>(data);
    if (type == "vec_double") return reencode<S, std::vector<double>>(data);
    if (type == "string") return reencode<S, std::string>(data);
    if (type == "bytes") return reencode<S, std::vector<uint8_t>>(data);
    if (type == "tuple") return reencode<S, std::tuple<int, std::string, bool>>(data);
    throw std::invalid_argument("unknown type " + type);
}

}  // namespace

PYBIND11_MODULE(_lunatic_testhelper, m) {
    auto check = [](int code) {
        if (code != LUNATIC_OK) throw std::runtime_error(lunatic_errmsg());
    };
    // name_msgpack and name_json: one entry template instantiated for each serializer.
    auto both = [&](const std::string &name, lunatic_entry msgpack, lunatic_entry json) {
        check(lunatic_entry_register((name + "_msgpack").c_str(), msgpack));
        check(lunatic_entry_register((name + "_json").c_str(), json));
    };
    using lunatic::Json;
    using lunatic::MessagePack;
    both("lunatic_test.echo", &echo<MessagePack>, &echo<Json>);
    both("lunatic_test.greeter", &greeter<MessagePack>, &greeter<Json>);
    both("lunatic_test.protocol_add", &protocol_add<MessagePack>, &protocol_add<Json>);
    both("lunatic_test.doubler", &doubler<MessagePack>, &doubler<Json>);
    both("lunatic_test.requester", &requester<MessagePack>, &requester<Json>);
    check(lunatic_entry_register("lunatic_test.registered_i32_msgpack", &registered_i32));
    check(lunatic_entry_register("lunatic_test.counter_server_msgpack", &counter_server));

    // Called from the main thread (an attached process): no fiber switch happens here.
    m.def("lookup_send_i32", [](const std::string &name, int32_t n) {
        auto p = lunatic::Process<int32_t, lunatic::MessagePack>::lookup(name);
        return p.has_value() && p->send(n);
    });
    m.def("registry_types", [] {
        py::dict d;
        d["i32/msgpack"] = lunatic::registry_type<int32_t, lunatic::MessagePack>();
        d["String/json"] = lunatic::registry_type<std::string, lunatic::Json>();
        d["Vec<i64>/msgpack"] =
            lunatic::registry_type<std::vector<int64_t>, lunatic::MessagePack>();
        d["{x: i32, y: i32}/json"] = lunatic::registry_type<Point, lunatic::Json>();
        return d;
    });

    m.def("encode_examples", [](const std::string &kind) {
        if (kind == "msgpack") return examples<lunatic::MessagePack>();
        if (kind == "json") return examples<lunatic::Json>();
        throw std::invalid_argument("kind is msgpack or json");
    });
    m.def("json_doubles", [](const std::vector<double> &values) {
        std::vector<py::bytes> out;
        for (double v : values) out.push_back(encode<lunatic::Json>(v));
        return out;
    });
    m.def("reencode", [](const std::string &kind, const std::string &type, const py::bytes &data) {
        try {
            if (kind == "msgpack") return reencode_as<lunatic::MessagePack>(type, data);
            if (kind == "json") return reencode_as<lunatic::Json>(type, data);
        } catch (const lunatic::DeserializationError &e) {
            throw py::value_error(std::string("C++ DeserializationError: ") + e.what());
        }
        throw std::invalid_argument("kind is msgpack or json");
    });
}
