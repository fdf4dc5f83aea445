"""hello.py: lunatic processes from Python — spawn, send, receive.

Run it with the built module on the path:

    make demo
    # or: PYTHONPATH=build/bindings/python /usr/bin/python3 examples/python/hello.py
"""

import lunatic


def greeter(name, mailbox):
    """A process: waits for (sender, greeting) messages and answers each one."""
    while True:
        message = mailbox.receive()
        if message is None:
            return
        sender, greeting = message
        sender.send(f"{greeting}, {name}! (from process {lunatic.this_process()})")


def main():
    me = lunatic.this_process()
    mailbox = lunatic.Mailbox()

    # spawn: the capture ("world") is pickled here and unpickled in the new process
    child = lunatic.spawn(greeter, "world")
    child.send((me, "Hello"))
    print(mailbox.receive(timeout=5))

    # a thousand processes, each answering once
    children = [lunatic.spawn(greeter, f"process {i}") for i in range(1000)]
    for c in children:
        c.send((me, "Hi"))
    replies = [mailbox.receive(timeout=10) for _ in children]
    print(f"{len(replies)} replies, e.g. {replies[-1]!r}")

    for c in [child] + children:
        c.send(None)  # let them end normally (those still running at exit are killed)
    print(f"main process {me} done")


if __name__ == "__main__":
    main()
