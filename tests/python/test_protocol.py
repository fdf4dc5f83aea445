"""lunatic.Protocol: session types checked at run time, and a session with a C++ process."""

import pytest

import lunatic
from lunatic import (Choose, End, Json, Loop, MessagePack, Offer, Pickle, Process, Protocol, ProtocolError, Rec,
                     Recv, Send, Var, dual)

TIMEOUT = 20

AddProtocol = Recv[int, Recv[int, Send[int, End]]]


# ------------------------------------------------------------ states

def test_states_print_compare_and_dualize():
    assert repr(AddProtocol) == "Recv[int, Recv[int, Send[int, End]]]"
    assert dual(AddProtocol) == Send[int, Send[int, Recv[int, End]]]
    assert dual(dual(AddProtocol)) == AddProtocol
    p = Rec[Choose[Send[str, Loop], End]]
    assert dual(p) == Rec[Offer[Recv[str, Loop], End]]
    assert repr(dual(p)) == "Rec[Offer[Recv[str, Loop], End]]"
    assert Var[0] == Loop and repr(Var[1]) == "Var[1]"
    assert hash(Send[int, End]) == hash(Send[int, End])
    assert Send[None, End] != Send[int, End]
    assert repr(Send[list[int], End]) == "Send[list[int], End]"


def test_malformed_protocols_are_rejected(mailbox):
    with pytest.raises(TypeError):
        Choose[End]  # one branch
    with pytest.raises(TypeError):
        Send[int, "not a state"]
    with pytest.raises(TypeError):
        Send[int]
    me = lunatic.this_process()
    with pytest.raises(ProtocolError, match="step before it loops"):
        Protocol.from_process(me, lunatic.Tag(), Rec[Loop])
    with pytest.raises(ProtocolError, match="does not enclose"):
        Protocol.from_process(me, lunatic.Tag(), Send[int, Loop])
    with pytest.raises(ValueError):
        Protocol.from_process(me, 0, End)


# ------------------------------------------------------------ the example

def add_child(capture, protocol):
    assert isinstance(protocol, Protocol)
    assert protocol.state == AddProtocol
    p1, a = protocol.receive(timeout=TIMEOUT)
    p2, b = p1.receive(timeout=TIMEOUT)
    end = p2.send(capture + a + b)
    assert end.is_end()
    end.close()


@pytest.mark.parametrize("ser", [Pickle, MessagePack, Json])
def test_add_example(ser, mailbox):
    child = lunatic.spawn(add_child, 1, protocol=AddProtocol, serializer=ser)
    assert isinstance(child, Protocol)
    assert child.state == dual(AddProtocol)
    end, result = child.send(2).send(2).receive(timeout=TIMEOUT)
    assert result == 5
    assert end.is_end() and end.state == End
    assert mailbox.size() == 0


def test_spawn_protocol_and_spawn_link(mailbox):
    end, result = lunatic.spawn_protocol(add_child, 10, AddProtocol).send(1).send(2).receive(timeout=TIMEOUT)
    assert result == 13
    end, result = lunatic.spawn_link(add_child, 20, protocol=AddProtocol).send(1).send(2).receive(timeout=TIMEOUT)
    assert result == 23


# ------------------------------------------------------------ choice and recursion: a calculator

# The server's side: the client picks add, mul (each: two ints in, the result out, and again) or quit
# (the server answers how many operations it did, and the session ends).
CalcServer = Rec[Offer[
    Recv[int, Recv[int, Send[int, Loop]]],
    Recv[int, Recv[int, Send[int, Loop]]],
    Send[int, End],
]]


def calculator(capture, protocol):
    done = 0
    p = protocol
    while True:
        branch, p = p.offer(timeout=TIMEOUT)
        if branch == 2:
            p.send(done).close()
            return
        p, a = p.receive(timeout=TIMEOUT)
        p, b = p.receive(timeout=TIMEOUT)
        p = p.send(a + b if branch == 0 else a * b)
        done += 1


def test_calculator_loops_until_quit(mailbox):
    client = lunatic.spawn(calculator, None, protocol=CalcServer)
    assert isinstance(client.state, Choose)
    results = []
    for op, a, b in [(0, 2, 3), (1, 4, 5), (0, -1, 1), (1, 6, 7)]:
        client, r = client.select(op).send(a).send(b).receive(timeout=TIMEOUT)
        results.append(r)
        assert isinstance(client.state, Choose)  # back at the top of the loop (Rec unfolded)
    end, count = client.select(2).receive(timeout=TIMEOUT)
    assert results == [5, 20, 0, 42]
    assert count == 4 and end.is_end()


LeftRight = Choose[Send[str, End], Recv[int, End]]


def left_right_child(capture, protocol):
    branch, p = protocol.offer(timeout=TIMEOUT)
    if branch == 0:
        p, text = p.receive(timeout=TIMEOUT)
        assert text == "left"
    else:
        p = p.send(capture)
    p.close()


def test_select_left_and_right(mailbox):
    lunatic.spawn(left_right_child, 7, protocol=dual(LeftRight)).select_left().send("left").close()
    end, n = lunatic.spawn(left_right_child, 7, protocol=dual(LeftRight)).select_right().receive(timeout=TIMEOUT)
    assert n == 7 and end.is_end()


# ------------------------------------------------------------ unrelated messages interleaved

Interleaved = Recv[int, Send[list, End]]


def interleaved_child(capture, protocol):
    parent = lunatic.Process(*capture)
    mb = lunatic.Mailbox()
    parent.send("unrelated from child")          # untagged, before the session's reply
    parent.tag_send(99, "tagged 99 from child")
    p, n = protocol.receive(timeout=TIMEOUT)     # skips the unrelated messages queued here
    others = [mb.receive(timeout=TIMEOUT) for _ in range(3)]
    p.send([n, others]).close()


def test_unrelated_messages_interleaved(mailbox):
    me = lunatic.this_process()
    p = lunatic.spawn(interleaved_child, [me.node_id, me.id], protocol=Interleaved)
    child = p.peer
    child.send("first")
    child.tag_send(5, "tag 5")
    lunatic.sleep(0.05)  # the child's own messages reach us before the session's
    child.send(["last"])
    end, (n, others) = p.send(42).receive(timeout=TIMEOUT)
    assert n == 42
    assert others == ["first", "tag 5", ["last"]]
    # the child's unrelated messages stayed queued, in order
    assert mailbox.receive(timeout=TIMEOUT) == "unrelated from child"
    assert mailbox.tag_receive(99, timeout=TIMEOUT) == "tagged 99 from child"
    assert mailbox.size() == 0


def test_two_sessions_with_the_same_peer_do_not_mix(mailbox):
    me = lunatic.this_process()
    a = Protocol.from_process(me, lunatic.Tag(), Send[int, End])
    b = Protocol.from_process(me, lunatic.Tag(), Send[int, End])
    ra = Protocol.from_process(me, a.tag, Recv[int, End])
    rb = Protocol.from_process(me, b.tag, Recv[int, End])
    a.send(1)
    b.send(2)
    me.send("plain")
    assert rb.receive(timeout=TIMEOUT)[1] == 2
    assert ra.receive(timeout=TIMEOUT)[1] == 1
    assert mailbox.receive(timeout=TIMEOUT) == "plain"


# ------------------------------------------------------------ misuse

def test_wrong_operation_raises_protocol_error_naming_the_step(mailbox):
    me = lunatic.this_process()
    p = Protocol.from_process(me, lunatic.Tag(), Recv[int, Send[str, End]])
    with pytest.raises(ProtocolError, match=r"send\(\) where the protocol expects Recv\[int, Send\[str, End\]\]: "
                                            r"call receive\(\)"):
        p.send(1)
    with pytest.raises(ProtocolError, match="expects Recv"):
        p.select(0)
    with pytest.raises(ProtocolError, match="expects Recv"):
        p.offer(timeout=0)
    assert issubclass(ProtocolError, lunatic.Error)
    # a wrong operation sent nothing and did not consume p
    assert not p.consumed
    me.tag_send(p.tag, 3)
    q, v = p.receive(timeout=TIMEOUT)
    assert v == 3
    with pytest.raises(ProtocolError, match="consumed"):
        p.receive(timeout=0)
    with pytest.raises(ProtocolError, match=r"expects Send\[str, End\]: a value of type str"):
        q.send(3)
    with pytest.raises(ProtocolError, match="expects Send"):
        q.receive(timeout=0)
    end = Protocol.from_process(me, lunatic.Tag(), Send[str, End]).send("ok")
    assert mailbox.tag_receive(end.tag, timeout=TIMEOUT) == "ok"
    with pytest.raises(ProtocolError, match="End: the session is over"):
        end.send("more")
    with pytest.raises(ProtocolError, match="End"):
        end.receive(timeout=0)
    q.send("x")
    with pytest.raises(ProtocolError, match="consumed"):
        q.send("x")
    assert mailbox.tag_receive(q.tag, timeout=TIMEOUT) == "x"
    with pytest.raises(ProtocolError, match="closed before End"):
        Protocol.from_process(me, lunatic.Tag(), Send[int, End]).close()
    assert mailbox.size() == 0


def test_wrong_value_types(mailbox):
    me = lunatic.this_process()

    def sender(t):
        return Protocol.from_process(me, lunatic.Tag(), Send[t, End])

    for t, bad in [(int, "1"), (int, True), (int, 1.5), (str, b"x"), (float, "1"), (bool, 1), (bytes, "x"),
                   (list, {"a": 1}), (dict, [1]), (Process, 5), (list[int], [1, "2"]), (dict[str, int], {"a": "b"})]:
        with pytest.raises(ProtocolError, match=r"expects Send\["):
            sender(t).send(bad)
    for t, good in [(int, 1), (str, "x"), (float, 2), (bool, False), (bytes, b"x"), (list, [1, "a"]),
                    (dict, {"a": 1}), (Process, me), (list[int], [1, 2]), (None, object()), (dict[str, int], {"a": 1})]:
        p = sender(t)
        if t is None:
            p = Protocol.from_process(me.with_serializer(Pickle), p.tag, Send[None, End])
            p.send(["anything", 1])
        else:
            p.send(good)
        mailbox.tag_receive(p.tag, timeout=TIMEOUT)
    assert mailbox.size() == 0


def test_received_value_of_the_wrong_type(mailbox):
    me = lunatic.this_process()
    tag = lunatic.Tag()
    p = Protocol.from_process(me, tag, Recv[int, End])
    me.tag_send(tag, "not an int")
    with pytest.raises(ProtocolError, match=r"received 'not an int' \(str\) where the protocol expects Recv\[int"):
        p.receive(timeout=TIMEOUT)
    # a Process arrives as a handle, with the session's serializer
    tag = lunatic.Tag()
    mp = me.with_serializer(MessagePack)
    mp.tag_send(tag, me)
    _, got = Protocol.from_process(mp, tag, Recv[Process, End]).receive(timeout=TIMEOUT)
    assert got == me and got.serializer is MessagePack
    assert mailbox.size() == 0


def test_choice_misuse(mailbox):
    me = lunatic.this_process()
    three = Protocol.from_process(me, lunatic.Tag(), Choose[End, End, End])
    with pytest.raises(ProtocolError, match="two-way Choose"):
        three.select_left()
    with pytest.raises(ProtocolError, match="a branch 0 .. 2"):
        three.select(3)
    with pytest.raises(ProtocolError, match="expects Choose"):
        three.send(1)
    assert three.select(2).is_end()
    assert mailbox.tag_receive(three.tag, timeout=TIMEOUT) == 2
    # the peer picking a branch that does not exist
    tag = lunatic.Tag()
    offer = Protocol.from_process(me, tag, Offer[End, End])
    me.tag_send(tag, 5)
    with pytest.raises(ProtocolError, match="chose branch 5 of 2"):
        offer.offer(timeout=TIMEOUT)


def test_receive_timeout_consumes(mailbox):
    p = Protocol.from_process(lunatic.this_process(), lunatic.Tag(), Recv[int, End])
    with pytest.raises(lunatic.TimeoutError):
        p.receive(timeout=0.01)
    with pytest.raises(ProtocolError, match="consumed"):
        p.receive(timeout=0.01)


def misbehaving_child(capture, protocol):
    protocol.receive(timeout=TIMEOUT)[0].send(1)  # a second Recv is due: ProtocolError fails the child


def test_misuse_in_a_child_fails_it(mailbox, capfd):
    mailbox.catch_link_failure()
    try:
        p = lunatic.spawn_link(misbehaving_child, None, protocol=AddProtocol)
        p = p.send(1)
        signal = mailbox.receive(timeout=TIMEOUT)
        assert isinstance(signal, lunatic.LinkDied)
        assert "ProtocolError" in signal.text and "send() where the protocol expects Recv[int, Send[int, End]]: call receive()" in signal.text
    finally:
        mailbox.catch_link_failure(False)


# ------------------------------------------------------------ a session with a C++ process

def test_cross_language_session_msgpack(mailbox):
    helper = pytest.importorskip("_lunatic_testhelper")
    assert helper
    tag = lunatic.Tag()
    me = lunatic.this_process(MessagePack)
    # the C++ side decodes lunatic::ProtocolCapture<int64_t>: [[node_id, id], tag, capture]
    capture = MessagePack.encode([[me.node_id, me.id], int(tag), 1])
    child = lunatic.spawn_named("lunatic_test.protocol_add_msgpack", capture, serializer=None)
    p = Protocol.from_process(child, tag, dual(AddProtocol), MessagePack)
    end, result = p.send(2).send(2).receive(timeout=TIMEOUT)
    assert result == 5 and end.is_end()
    assert mailbox.size() == 0


@pytest.mark.parametrize("ser", [MessagePack, Json])
def test_cross_language_spawn_named_protocol(ser, mailbox):
    pytest.importorskip("_lunatic_testhelper")
    name = "lunatic_test.protocol_add_" + ser.name
    p = lunatic.spawn_named(name, 10, protocol=AddProtocol, serializer=ser)
    assert p.state == Send[int, Send[int, Recv[int, End]]]
    end, result = p.send(20).send(12).receive(timeout=TIMEOUT)
    assert result == 42 and end.is_end()
    child = p.peer
    for _ in range(200):
        if not child.is_alive():
            break
        lunatic.sleep(0.01)
    assert not child.is_alive()
