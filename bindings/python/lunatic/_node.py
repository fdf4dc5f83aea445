"""Nodes: this runtime on TCP, other runtimes it is connected to, and Python spawns on them.

A node is a runtime listening on a TCP address with a name and a cookie (a
shared secret); :func:`connect` joins another node and the cluster becomes a
full mesh (docs/nodes.md). Once connected, a :class:`~lunatic.Process` of
another node works like a local one: ``send``, ``link``, ``monitor``,
``kill``, timers. :func:`spawn_node` starts a Python function on another node
that runs Python (an interpreter that imported ``lunatic`` and started its node).

How a Python function travels: by name. At import, ``lunatic`` registers the C
entry ``"lunatic.python"``; :func:`spawn_node` sends the function's module and
qualified name, the encoded capture and a few words of bookkeeping to it. The
other node imports the module, resolves the name and runs the function in a
Python process exactly as :func:`lunatic.spawn` runs one (its own thread
state, pinned to the Python worker, 8 MiB stack). That process first tells the
spawner its pid (or why the name did not resolve), so errors surface as
exceptions in the spawner and ``link=True`` stands before the function runs.
"""

from __future__ import annotations

import importlib
import pickle
import struct
import threading
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

from . import _errors, _lunatic
from ._config import ProcessConfig, _child_stacks
from ._errors import Error, Killed, NoNodeError, NotAProcessError, NotFoundError, TimeoutError
from ._process import Process, Tag, _bootstrap, _link_arg, _timeout_ns
from ._serializers import Pickle

__all__ = [
    "Node",
    "node_start",
    "connect",
    "nodes",
    "lookup_nodes",
    "spawn_node",
]

_WIRE_VERSION = 1
_DEFAULT_TIMEOUT = 10.0
# The capture's header: stack size, spawner node, spawner id, reply tag (module.cpp reads it).
_HEADER = struct.Struct("<QQQq")
_SPAWNER = struct.Struct("<QQq")  # what the Python process gets of it
_CODE = struct.Struct("<i")
_HELLO_OK = b"O"


class Node(NamedTuple):
    """A connected node as :func:`nodes` lists it."""

    id: int  #: its node id (the ``node_id`` of its processes' handles)
    name: str  #: the name it started with
    address: str  #: ``"host:port"`` it listens on ("" if unknown)
    attributes: Dict[str, str]  #: the attributes it started with


def _ms(seconds: Optional[float], what: str) -> int:
    """A duration in seconds as whole milliseconds for the C options; None = the default (0)."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} is a number of seconds or None, not {type(seconds).__name__}")
    if not seconds > 0:  # NaN too
        raise ValueError(f"{what} must be a positive number of seconds")
    ms = round(seconds * 1000)
    if ms > 0xFFFFFFFF:
        raise ValueError(f"{what} is too long")
    return max(1, ms)


def _int_arg(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} is an int, not {type(value).__name__}")
    return int(value)


def _attribute_list(attributes: Any) -> List[str]:
    if attributes is None:
        return []
    if isinstance(attributes, dict):
        items = list(attributes.items())
    else:
        raise TypeError(f"attributes is a dict of str to str, not {type(attributes).__name__}")
    result = []
    for key, value in items:
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("attributes is a dict of str to str")
        if not key or "=" in key or "," in key:
            raise ValueError(f"an attribute key must be non-empty, without '=' or ',': {key!r}")
        result.append(f"{key}={value}")
    return result


def node_start(name: str, cookie: str, *, host: str = "127.0.0.1", port: int = 0,
               attributes: Optional[Dict[str, str]] = None, max_frame_bytes: int = 0,
               heartbeat: Optional[float] = None, peer_timeout: Optional[float] = None,
               reconnect_max: Optional[float] = None) -> int:
    """Makes this interpreter's runtime a node and returns the TCP port it listens on.

    ``name`` (1..255 bytes) names it to the other nodes; ``cookie`` is the
    secret every node of the cluster shares (a peer with another cookie is
    refused). ``port=0`` lets the system choose. ``attributes`` (str to str)
    are what :func:`lookup_nodes` matches. ``heartbeat`` (default 1 s),
    ``peer_timeout`` (default 4 s: a peer heard nothing from for this long is
    lost) and ``reconnect_max`` (default 5 s) are in seconds;
    ``max_frame_bytes`` (default 1 MiB) is the largest frame (bigger messages
    are cut into chunks). Once per runtime: :class:`lunatic.ExistsError` after,
    and when the address is taken.
    """
    if not isinstance(name, str) or not isinstance(cookie, str) or not isinstance(host, str):
        raise TypeError("node_start(name: str, cookie: str, host: str, ...)")
    port = _int_arg(port, "port")
    if not 0 <= port <= 65535:
        raise ValueError(f"a port is between 0 and 65535, not {port}")
    return _lunatic.node_start(name, cookie, host, port, _int_arg(max_frame_bytes, "max_frame_bytes"),
                               _ms(heartbeat, "heartbeat"), _ms(peer_timeout, "peer_timeout"),
                               _ms(reconnect_max, "reconnect_max"), _attribute_list(attributes))


def connect(host: str, port: int, *, timeout: Optional[float] = _DEFAULT_TIMEOUT) -> int:
    """Connects to the node listening at ``host:port`` and returns its node id.

    Waits until both sides have authenticated, at most ``timeout`` seconds
    (``None``: no limit). Being connected already is not an error.
    :class:`lunatic.NoNodeError` when nothing answers there,
    :class:`lunatic.PermissionError` when the handshake is refused (another
    cookie, most likely), :class:`lunatic.TimeoutError`. From a process other
    than the main thread it waits on a helper thread (:func:`lunatic.blocking`),
    so the other Python processes keep running.
    """
    if not isinstance(host, str):
        raise TypeError(f"host is a str, not {type(host).__name__}")
    port = _int_arg(port, "port")
    if not 1 <= port <= 65535:
        raise ValueError(f"a port is between 1 and 65535, not {port}")
    timeout_ns = _timeout_ns(timeout)
    if threading.current_thread() is not threading.main_thread():
        try:
            return _lunatic.blocking(_lunatic.node_connect, (host, port, timeout_ns), None)
        except NotAProcessError:
            pass  # a plain thread: blocking it is fine
    return _lunatic.node_connect(host, port, timeout_ns)


def _node_from(entry: Tuple[int, str, str, List[str]]) -> Node:
    node_id, name, address, attribute_list = entry
    attributes = {}
    for text in attribute_list:
        key, _, value = text.partition("=")
        attributes[key] = value
    return Node(node_id, name, address, attributes)


def nodes() -> List[Node]:
    """The nodes this node is connected to, sorted by name (empty when it is not a node)."""
    return [_node_from(n) for n in _lunatic.nodes()]


def lookup_nodes(query: str = "") -> List[Node]:
    """The connected nodes whose attributes match every comma-separated term of ``query``:
    ``"key=value"`` matches that attribute exactly, ``"key"`` any value of it; ``""`` every node."""
    if not isinstance(query, str):
        raise TypeError(f"a query is a str, not {type(query).__name__}")
    wanted = set(_lunatic.lookup_nodes(query))
    return [n for n in nodes() if n.id in wanted]


def _node_id(node: Any) -> int:
    if isinstance(node, Node):
        return node.id
    if isinstance(node, bool) or not isinstance(node, int):
        raise TypeError(f"a node is a node id (int) or a lunatic.Node, not {type(node).__name__}")
    if not 0 <= node < (1 << 64):
        raise ValueError(f"a node id is between 0 and 2**64-1, not {node}")
    return int(node)


def _resolve(module: str, qualname: str) -> Any:
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _function_name(fn: Any) -> Tuple[str, str]:
    """(module, qualname) another node imports ``fn`` by; TypeError/ValueError if it cannot."""
    if isinstance(fn, str):
        module, sep, qualname = fn.partition(":")
        if not sep or not module or not qualname:
            raise ValueError(f"a function name is 'module:qualname', not {fn!r}")
        if any(not part.isidentifier() for part in module.split(".") + qualname.split(".")):
            raise ValueError(f"{fn!r} is not a 'module:qualname' of Python identifiers")
        return module, qualname
    if not callable(fn):
        raise TypeError(f"spawn_node: {fn!r} is neither callable nor a 'module:qualname' str")
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"spawn_node: {fn!r} has no __module__/__qualname__ to be found by on another node")
    if "<" in qualname:  # <lambda>, <locals> (nested functions)
        raise ValueError(f"spawn_node: {module}.{qualname} is not importable by name on another node "
                         "(lambdas and nested functions are not); use a module-level function")
    if module == "__main__":
        raise ValueError(f"spawn_node: {qualname} is defined in __main__, which is another script on the "
                         "other node; put it in a module both nodes can import")
    try:
        found = _resolve(module, qualname)
    except Exception as e:
        raise ValueError(f"spawn_node: {module}:{qualname} does not resolve here ({type(e).__name__}: {e})") from None
    if found is not fn:
        raise ValueError(f"spawn_node: {module}:{qualname} names another object than {fn!r}")
    return module, qualname


def spawn_node(node: Union[int, Node], fn: Union[Callable[[Any, Any], Any], str], capture: Any = None, *,
               serializer: Any = Pickle, link: bool = False, link_tag: Optional[Union[Tag, int]] = None,
               config: Optional[ProcessConfig] = None, stack_size: Optional[int] = None,
               timeout: Optional[float] = _DEFAULT_TIMEOUT) -> Process:
    """Spawns ``fn(capture, mailbox)`` on another node running Python and returns its handle.

    ``fn`` is a module-level function (sent by its ``__module__`` and
    ``__qualname__``) or a ``"module:qualname"`` str; the other node imports
    that module. Lambdas, nested functions and functions of ``__main__``
    raise :class:`ValueError` here, before anything is sent. ``capture`` is
    encoded with ``serializer``, as :func:`lunatic.spawn` does, and the handle
    sends with it. ``link``/``link_tag`` link the new process to the caller
    before ``fn`` runs; ``config`` (which must grant ``can_spawn_processes``:
    a small C process starts the Python one there) and ``stack_size`` as in
    :func:`lunatic.spawn`.

    Errors: :class:`lunatic.NoNodeError` when the node is not connected or is
    lost meanwhile; :class:`lunatic.NotFoundError` when it does not run
    Python with ``lunatic`` imported, or the name does not resolve there (the
    message carries the ImportError/AttributeError); :class:`lunatic.TimeoutError`
    after ``timeout`` seconds without an answer.
    """
    node_id = _node_id(node)
    module, qualname = _function_name(fn)
    link_arg = _link_arg(link, link_tag)
    stack, config_stack = _child_stacks(config, stack_size)
    deadline_ns = _timeout_ns(timeout)
    if stack is not None:
        stack = _int_arg(stack, "stack_size")
        if not 0 <= stack < (1 << 64):
            raise ValueError(f"stack_size is between 0 and 2**64-1, not {stack}")
    payload = serializer.encode(capture)
    me = _lunatic.self_pid()
    tag = Tag()
    body = pickle.dumps((_WIRE_VERSION, module, qualname, payload, serializer, config_stack, link_arg is not None),
                        protocol=pickle.HIGHEST_PROTOCOL)
    # The header the C starter reads (module.cpp, "remote spawns"), then the body.
    capture_bytes = _HEADER.pack(stack or 0, me[0], me[1], int(tag)) + body
    try:
        starter = _lunatic.spawn_node(node_id, _lunatic.NODE_ENTRY, capture_bytes,
                                      None if config is None else config._config)
    except NotFoundError as e:
        raise NotFoundError(f"node {node_id:x} does not run Python with lunatic imported "
                            f"(no entry {_lunatic.NODE_ENTRY!r} there): {e}", e.code) from None
    try:
        child = _await_hello(starter, tag, deadline_ns, node_id, module, qualname)
        if link_arg is not None:
            _lunatic.link(child[0], child[1], link_arg)
            _lunatic.send(child[0], child[1], int(tag), b"")  # go: the link stands
    finally:
        _lunatic.tag_discard(int(tag))
    return Process(child[0], child[1], serializer)


def _await_hello(starter: Tuple[int, int], tag: Tag, timeout_ns: int, node_id: int, module: str,
                 qualname: str) -> Tuple[int, int]:
    """The pid of the Python process the starter made, from its hello; raises what went wrong."""
    mask = _lunatic.RECEIVE_DATA | _lunatic.RECEIVE_PROCESS_DIED | _lunatic.RECEIVE_SIGNAL_TAGS
    _lunatic.monitor_tag(starter[0], starter[1], int(tag))
    try:
        while True:
            r = _lunatic.receive((int(tag),), timeout_ns, mask)
            if r is None:
                raise TimeoutError(f"spawn_node: no answer from node {node_id:x} for {module}:{qualname}")
            payload, _, kind, sender_node, sender_id, reason = r
            if kind == _lunatic.MESSAGE_DATA:
                if payload == _HELLO_OK:
                    return sender_node, sender_id
                code, text = _read_error(payload)
                cls = _errors._BY_CODE.get(code, Error)
                raise cls(f"spawn_node: {module}:{qualname} on node {node_id:x}: {text}", code)
            # The starter ended: normally (or before the monitor stood) once it has
            # started the Python process, whose hello is still on its way.
            if reason in (_lunatic.EXIT_NORMAL, _lunatic.EXIT_NOPROC):
                continue
            # A starter that could not start the Python process said why first (a
            # receive hands out signals before data: look for it).
            said = _lunatic.receive((int(tag),), 0, _lunatic.RECEIVE_DATA)
            if said is not None and said[0] != _HELLO_OK:
                code, text = _read_error(said[0])
                cls = _errors._BY_CODE.get(code, Error)
                raise cls(f"spawn_node: {module}:{qualname} on node {node_id:x}: {text}", code)
            text = payload.decode("utf-8", "replace")
            if said is not None and reason != _lunatic.EXIT_NOCONNECTION:
                return said[3], said[4]  # started after all
            if reason == _lunatic.EXIT_NOCONNECTION:
                raise NoNodeError(f"spawn_node: node {node_id:x} was lost ({text})", _lunatic.ENONODE)
            raise Error(f"spawn_node: the Python process could not start on node {node_id:x}: {text}")
    finally:
        _lunatic.demonitor_tag(starter[0], starter[1], int(tag))


def _error_hello(code: int, text: str) -> bytes:
    return b"E" + _CODE.pack(code) + text.encode("utf-8", "replace")


def _read_error(payload: bytes) -> Tuple[int, str]:
    if len(payload) < 5 or payload[:1] != b"E":
        return _lunatic.EINVAL, f"a malformed answer {payload[:40]!r}"
    return _CODE.unpack_from(payload, 1)[0], payload[5:].decode("utf-8", "replace")


def _remote_bootstrap(payload: bytes, _: Any) -> Union[None, int, str]:
    """Runs in the Python process another node's :func:`spawn_node` started here (see the module doc).

    payload: u64 spawner node, u64 spawner id, i64 reply tag (little-endian), then the pickled body.
    """
    if len(payload) < _SPAWNER.size:
        return "lunatic.python: a malformed spawn from another node (no spawner)"
    spawner_node, spawner_id, tag = _SPAWNER.unpack_from(payload)

    def answer(hello: bytes) -> None:
        _lunatic.send(spawner_node, spawner_id, tag, hello)

    try:
        try:
            version, module, qualname, inner, serializer, config_stack, wait_go = pickle.loads(
                payload[_SPAWNER.size:])
        except Exception as e:
            text = f"a malformed spawn ({type(e).__name__}: {e})"
            answer(_error_hello(_lunatic.EINVAL, text))
            return f"lunatic.python: {text}"
        if version != _WIRE_VERSION:
            text = f"spawn format {version}, this node reads {_WIRE_VERSION}"
            answer(_error_hello(_lunatic.EINVAL, text))
            return f"lunatic.python: {text}"
        try:
            fn = _resolve(module, qualname)
            if not callable(fn):
                raise TypeError(f"{module}:{qualname} is not callable")
        except BaseException as e:  # an import may raise anything
            answer(_error_hello(_lunatic.ENOTFOUND, f"{type(e).__name__}: {e}"))
            return None  # the spawner raises; nothing failed here
        answer(_HELLO_OK)
        if wait_go:
            # The spawner links to this process, then says go; if it dies first, end quietly.
            mask = _lunatic.RECEIVE_DATA | _lunatic.RECEIVE_PROCESS_DIED | _lunatic.RECEIVE_SIGNAL_TAGS
            _lunatic.monitor_tag(spawner_node, spawner_id, tag)
            r = _lunatic.receive((tag,), -1, mask)
            _lunatic.demonitor_tag(spawner_node, spawner_id, tag)
            _lunatic.tag_discard(tag)
            if r[2] != _lunatic.MESSAGE_DATA:
                return None
    except Killed:
        return 1
    except Exception as e:  # e.g. the spawner's node was lost meanwhile
        return f"lunatic.python: {type(e).__name__}: {e}"
    return _bootstrap(inner, (fn, serializer, config_stack))
