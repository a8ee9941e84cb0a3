"""A request/reply client polling a dict of replies and a ready flag, both filled from other
threads (as an MQTT callback would). Replies arrive early (before the wait starts), late, never
(timeout) and after the timeout. The original wakes every 0.5 s; the rewrite is woken by the
write itself, which the printed wake-up class shows."""
import asyncio
import threading
import time

POLL = 0.5


class Client:
    def __init__(self):
        self.results = {}
        self.ready = False

    def on_reply(self, key, value):
        self.results[key] = value

    def on_ready(self):
        self.ready = True

    def request(self, key, reply_after):
        if reply_after == 0:
            self.on_reply(key, f"reply-{key}")
        elif reply_after is not None:
            threading.Timer(reply_after, self.on_reply, (key, f"reply-{key}")).start()

    async def call(self, key, reply_after, timeout):
        self.request(key, reply_after)
        deadline = time.monotonic() + timeout
        while key not in self.results:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(POLL)
        return self.results.pop(key)

    async def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready:
                return True
            await asyncio.sleep(POLL)
        return False


def woken(started, arrived_after):
    # A polling wait cannot return before its first sleep (POLL) is over, however early the
    # reply came; an awaited event returns as soon as it is set. Comparing with POLL (not with a
    # tight figure) leaves a loaded machine 0.4 s of scheduling noise before "late" is wrong.
    assert arrived_after < POLL
    return "promptly" if time.monotonic() - started < POLL else "late"


async def main():
    client = Client()
    print("early:", await client.call("a", 0, 2.0))
    started = time.monotonic()
    print("late:", await client.call("b", 0.1, 2.0), woken(started, 0.1))
    print("never:", await client.call("c", None, 0.3))
    print("after timeout:", await client.call("d", 0.8, 0.3))
    await asyncio.sleep(0.8)
    print("stored after the timeout:", client.results)
    threading.Timer(0.1, client.on_ready).start()
    started = time.monotonic()
    print("ready:", await client.wait_ready(2.0), woken(started, 0.1))


if __name__ == "__main__":
    asyncio.run(main())
