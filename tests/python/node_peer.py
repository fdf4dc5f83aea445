"""A second node for test_nodes.py (and anyone who wants one): a Python interpreter that
imports lunatic, starts a node, prints ``port <n> id <node id>`` and serves spawns from
other nodes until its stdin closes (so it never outlives the test that started it).

    python3 node_peer.py NAME COOKIE [key=value ...]

The directory of this script is on sys.path (Python puts it there), so functions of
the test modules beside it resolve here by name.
"""

import sys

import lunatic


def main() -> None:
    name, cookie = sys.argv[1], sys.argv[2]
    attributes = dict(a.split("=", 1) for a in sys.argv[3:])
    port = lunatic.node_start(name, cookie, attributes=attributes, heartbeat=0.2, peer_timeout=1.0)
    print(f"port {port} id {lunatic.node_id()}", flush=True)
    # Python processes spawned here run on the runtime's Python worker; the main thread
    # only waits for the parent to go away.
    sys.stdin.read()


if __name__ == "__main__":
    main()
