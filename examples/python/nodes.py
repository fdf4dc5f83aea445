"""nodes.py: two Python interpreters as lunatic nodes — remote spawn, send, monitor, node loss.

Runs alone: it starts its second node itself (this same file, with ``--peer``, in a
subprocess), connects to it, spawns functions of this module there by name, and at the
end kills the peer's OS process to show the ``noconnection`` signal.

    PYTHONPATH=build/bindings/python /usr/bin/python3 examples/python/nodes.py

A function travels by its module and name: the other node imports the module
(here ``nodes``, this file, found in the script's directory on both sides) and
runs the function in a Python process of its own. Functions of ``__main__``
cannot travel (the other node's ``__main__`` is another script), which is why
``main()`` below spawns ``nodes.square_server`` rather than ``square_server``.
"""

import secrets
import subprocess
import sys

import lunatic


def square_server(_, mailbox):
    """Runs on the peer: answers (sender, n) with n*n and the node it ran on."""
    while True:
        sender, n = mailbox.receive()
        if n is None:
            return
        sender.send((n * n, lunatic.node_id()))


def sleeper(_, mailbox):
    """Runs on the peer until its node goes away."""
    mailbox.receive()


def run_peer(cookie):
    """The second node: listens, says its port on stdout, serves until stdin closes."""
    port = lunatic.node_start("worker", cookie, attributes={"role": "squares"})
    print(port, flush=True)
    sys.stdin.read()


def main():
    import nodes  # this file as a module, so its functions have a name the peer can import

    cookie = secrets.token_hex(16)  # the shared secret of this little cluster
    lunatic.node_start("main", cookie)
    peer = subprocess.Popen([sys.executable, __file__, "--peer", cookie], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(peer.stdout.readline())
        worker = lunatic.connect("127.0.0.1", port, timeout=10)
        # Attributes follow the handshake in a frame of their own: wait a moment for them.
        for _ in range(500):
            if lunatic.lookup_nodes("role=squares"):
                break
            lunatic.sleep(0.01)
        print("connected to:", [(n.name, n.address, n.attributes) for n in lunatic.nodes()])
        print("nodes with role=squares:", [n.name for n in lunatic.lookup_nodes("role=squares")])

        me = lunatic.this_process()
        mailbox = lunatic.Mailbox()
        server = lunatic.spawn_node(worker, nodes.square_server)
        print("spawned", server, "on node", f"{worker:x}")
        for n in (2, 3, 12):
            server.send((me, n))
            square, where = mailbox.receive(timeout=10)
            print(f"{n}^2 = {square} (computed on node {where:x})")
        mailbox.monitor(server)
        server.send((me, None))
        print("server ended:", mailbox.receive_signal(timeout=10))

        # A node that goes away: processes watching its processes hear `noconnection`.
        doomed = lunatic.spawn_node(worker, nodes.sleeper)
        mailbox.monitor(doomed)
        peer.kill()
        signal = mailbox.receive_signal(timeout=10)
        print("after killing the peer's OS process:", signal.reason.name, signal.text)
        assert signal.reason == lunatic.ExitReason.NOCONNECTION
    finally:
        if peer.poll() is None:
            peer.kill()
        peer.wait()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--peer":
        run_peer(sys.argv[2])
    else:
        main()
