"""MessagePack and Json: byte-compatible with the C++ serializers (docs/wire-format.md)."""

import math
import random
import struct

import pytest

import lunatic
from lunatic import Json, MessagePack, Pickle, Process

helper = pytest.importorskip("_lunatic_testhelper")


# ------------------------------------------------------------ golden bytes (docs/wire-format.md)

MSGPACK_GOLDEN = [
    (Process(1, 2), "92 01 02"),
    (Process(0x100, 0x1FFFFFFFF), "92 cd 01 00 cf 00 00 00 01 ff ff ff ff"),
    ([1, 2], "92 01 02"),  # Point{1, 2}
    ([1, "a"], "92 01 a1 61"),  # variant<int32_t, string>{"a"}
    ({"a": 1}, "81 a1 61 01"),
    (b"\x01\x02", "c4 02 01 02"),
    (1.5, "cb 3f f8 00 00 00 00 00 00"),
    (None, "c0"),
    (-33, "d0 df"),
]

JSON_GOLDEN = [
    (Process(1, 2), '{"node_id":1,"id":2}'),
    ({"x": 1, "y": 2}, '{"x":1,"y":2}'),
    ({"a": 2, "b": 1}, '{"a":2,"b":1}'),
    ({1: "a"}, '[[1,"a"]]'),
    ({"index": 1, "value": "a"}, '{"index":1,"value":"a"}'),
    ({"index": 0, "value": None}, '{"index":0,"value":null}'),
    ((1, "a", True), '[1,"a",true]'),
    (1, "1"),
    (2.0, "2.0"),
    (0.1, "0.1"),
    (1e300, "1e+300"),
    (-0.0, "-0.0"),
    (-9223372036854775808, "-9223372036854775808"),
    (18446744073709551615, "18446744073709551615"),
]


@pytest.mark.parametrize("value,hexbytes", MSGPACK_GOLDEN)
def test_msgpack_golden_bytes(value, hexbytes):
    assert MessagePack.encode(value) == bytes.fromhex(hexbytes)


@pytest.mark.parametrize("value,text", JSON_GOLDEN)
def test_json_golden_bytes(value, text):
    assert Json.encode(value) == text.encode()


# ------------------------------------------------------------ the C++ serializers' own bytes

def python_values(kind):
    return {
        "true": True, "u32_1": 1, "i32_-2": -2, "-33": -33, "200": 200,
        "u64_max": 2**64 - 1, "i64_min": -(2**63),
        "1.5": 1.5, "2.0": 2.0, "-0.0": -0.0, "0.1": 0.1, "1e300": 1e300, "1e15": 1e15,
        "hi": "hi", "unicode": "\u20ac\n\"\\\x01\x7f", "long_str": "a" * 40,
        "bytes_1_2": b"\x01\x02", "vec_i64": [1, -1, 300],
        "point": [1, 2] if kind == "msgpack" else {"x": 1, "y": 2},
        "map_str_int": {"a": 2, "b": 1}, "map_int_str": {1: "a"},
        "optional_empty": None, "optional_5": 5,
        "variant_a": [1, "a"] if kind == "msgpack" else {"index": 1, "value": "a"},
        "tuple": (1, "a", True), "color_green": 1,
        "process_1_2": Process(1, 2), "process_big": Process(0x100, 0x1FFFFFFFF),
        "nested": [[1], [], [2, 3]],
    }


@pytest.mark.parametrize("kind,ser", [("msgpack", MessagePack), ("json", Json)])
def test_same_bytes_as_cpp(kind, ser):
    cpp = helper.encode_examples(kind)
    values = python_values(kind)
    assert set(cpp) == set(values)
    mismatches = {name: (ser.encode(values[name]), cpp[name]) for name in cpp
                  if ser.encode(values[name]) != cpp[name]}
    assert not mismatches


def random_doubles(n, seed):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(x):
            out.append(x)
    # decimal-looking values and the range where Python and nlohmann_json pick different forms
    out += [rng.randint(-10**6, 10**6) / 10**rng.randint(0, 8) for _ in range(n)]
    out += [rng.uniform(1e14, 1e17) for _ in range(n)] + [1e15, -1e15, 1.5e15, 9.999e15, 1e16, 1e-5, 1e-4, 5e-324]
    return out


def test_json_doubles_match_cpp():
    values = random_doubles(2000, 1234)
    cpp = helper.json_doubles(values)
    mismatches = [(v, Json.encode(v), c) for v, c in zip(values, cpp) if Json.encode(v) != c]
    assert not mismatches[:10]
    for v in values:
        assert Json.decode(Json.encode(v)) == v


@pytest.mark.parametrize("kind,ser", [("msgpack", MessagePack), ("json", Json)])
@pytest.mark.parametrize("cpp_type,value", [
    ("map_str_int", {"a": 1, "b": -2}),
    ("map_int_str", {-1: "minus", 3: "three"}),  # std::map: sorted keys
    ("process", Process(0xDEADBEEF, 77)),
    ("vec_double", [0.5, -1e-7, 123456789.125, 1e15, 3e300]),
    ("string", "h\u00e9llo \U0001f600 \t"),
    ("bytes", b"\x00\xff\x10"),
    ("tuple", (9, "x", False)),
])
def test_cpp_reads_what_python_writes(kind, ser, cpp_type, value):
    data = ser.encode(value)
    assert helper.reencode(kind, cpp_type, data) == data


# ------------------------------------------------------------ decoding and its limits

@pytest.mark.parametrize("ser", [MessagePack, Json])
def test_round_trips(ser):
    value = {"s": "x", "i": -5, "f": 0.25, "l": [1, [2, [3]]], "n": None, "b": True}
    assert ser.decode(ser.encode(value)) == value
    p = Process(5, 6)
    assert Process.from_wire(ser.decode(ser.encode(p))) == p


@pytest.mark.parametrize("ser", [MessagePack, Json])
def test_nesting_limit_is_128(ser):
    ok, too_deep = [], []
    for _ in range(127):
        ok = [ok]
    for _ in range(128):
        too_deep = [too_deep]
    assert ser.decode(ser.encode(ok)) == ok
    with pytest.raises(lunatic.SerializationError):
        ser.encode(too_deep)
    if ser is Json:
        with pytest.raises(lunatic.DeserializationError):
            ser.decode(b"[" * 129 + b"]" * 129)
    else:
        with pytest.raises(lunatic.DeserializationError):
            ser.decode(b"\x91" * 128 + b"\x90")


@pytest.mark.parametrize("ser,bad", [
    (MessagePack, b"\x92\x01"),  # truncated
    (MessagePack, b"\x01\x02"),  # trailing byte
    (MessagePack, b"\xd4\x01\x00"),  # ext
    (MessagePack, b"\xa1\xff"),  # invalid UTF-8
    (Json, b"[1,2"),
    (Json, b"1 2"),
    (Json, b"NaN"),
    (Json, b"1e400"),
    (Json, b'"\\ud800"'),  # lone surrogate escape
    (Json, b'"\xff"'),
    (Pickle, b"\x80\x05K\x01.extra"),  # trailing bytes
    (Pickle, b"garbage"),
])
def test_bad_payloads_are_deserialization_errors(ser, bad):
    with pytest.raises(lunatic.DeserializationError):
        ser.decode(bad)


def test_json_accepts_what_cpp_accepts():
    assert Json.decode(b'\xef\xbb\xbf {"a": [1, 2.5, "\\u00e9\\ud83d\\ude00"]} ') == {"a": [1, 2.5, "\u00e9\U0001f600"]}


@pytest.mark.parametrize("ser,value", [
    (MessagePack, 2**64),
    (MessagePack, "\ud800"),
    (Json, 2**64),
    (Json, float("inf")),
    (Json, "\udfff"),
    (Json, object()),
])
def test_unencodable_values(ser, value):
    with pytest.raises(lunatic.SerializationError):
        ser.encode(value)


# ------------------------------------------------------------ Python <-> C++ processes

TIMEOUT = 20.0


def wire_pid(ser, value):
    return Process.from_wire(value, ser)


@pytest.mark.parametrize("suffix,ser", [("msgpack", MessagePack), ("json", Json)])
def test_python_main_thread_talks_to_cpp_entry(suffix, ser, mailbox):
    echo = lunatic.spawn_named(f"lunatic_test.echo_{suffix}", 3, serializer=ser)
    me = lunatic.this_process(ser)
    reader = lunatic.Mailbox(ser)
    for i in range(3):
        request = [me, f"hi{i}", i] if ser is MessagePack else {"reply_to": me, "text": f"hi{i}", "n": i}
        assert echo.send(request)
    for i in range(3):
        reply = reader.receive(timeout=TIMEOUT)
        if ser is MessagePack:
            text, n, sender = reply
        else:
            text, n, sender = reply["text"], reply["n"], reply["from"]
        assert (text, n) == (f"hi{i}!", 2 * i)
        assert wire_pid(ser, sender) == echo


def python_side_of_cpp_echo(capture, mailbox):
    parent = Process.from_wire(capture[0])
    suffix = capture[1]
    ser = mailbox.serializer
    echo = lunatic.spawn_named(f"lunatic_test.echo_{suffix}", 1, serializer=ser)
    me = lunatic.this_process(ser)
    echo.send([me, "from a process", 21] if ser is MessagePack
              else {"reply_to": me, "text": "from a process", "n": 21})
    reply = mailbox.receive(timeout=TIMEOUT)
    parent.send(reply if ser is MessagePack else [reply["text"], reply["n"], reply["from"]])


@pytest.mark.parametrize("suffix,ser", [("msgpack", MessagePack), ("json", Json)])
def test_python_process_talks_to_cpp_entry(suffix, ser, mailbox):
    lunatic.spawn(python_side_of_cpp_echo, [lunatic.this_process(), suffix], serializer=ser)
    text, n, sender = mailbox.receive(timeout=TIMEOUT)
    assert (text, n) == ("from a process!", 42)
    assert isinstance(sender, (list, dict))


def greeted(capture, mailbox):
    parent = Process.from_wire(capture[0])
    suffix = capture[1]
    ser = mailbox.serializer
    # The C++ process starts the conversation: it gets our handle in its capture.
    greeter = lunatic.spawn_named(f"lunatic_test.greeter_{suffix}", lunatic.this_process(ser), serializer=ser)
    hello = mailbox.receive(timeout=TIMEOUT)
    cpp_from, text = (hello[0], hello[1]) if ser is MessagePack else (hello["from"], hello["text"])
    cpp = Process.from_wire(cpp_from, ser)
    cpp.send("pong")
    verdict = mailbox.receive(timeout=TIMEOUT)
    parent.send((text, verdict, cpp == greeter))


@pytest.mark.parametrize("suffix,ser", [("msgpack", MessagePack), ("json", Json)])
def test_cpp_entry_talks_to_python_process(suffix, ser, mailbox):
    lunatic.spawn(greeted, [lunatic.this_process(), suffix], serializer=ser)
    assert mailbox.receive(timeout=TIMEOUT) == ("hello from C++", "got: pong", True)


def test_spawn_named_with_raw_bytes(mailbox):
    # capture as bytes: int64 3 in MessagePack is the single byte 03
    echo = lunatic.spawn_named("lunatic_test.echo_msgpack", b"\x03", serializer=None)
    assert echo.serializer is Pickle
    me = lunatic.this_process(MessagePack)
    mp = echo.with_serializer(MessagePack)
    for i in range(3):
        mp.send([me, "raw", i])
    reader = lunatic.Mailbox(MessagePack)
    assert [reader.receive(timeout=TIMEOUT)[1] for _ in range(3)] == [0, 2, 4]
