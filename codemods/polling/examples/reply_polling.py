# Exercises: polling for a reply keyed in a dict, the request/response shape of MQTT and
# queue-based RPC. Positives (reported at the `while`/`for` line): `while key not in
# self.results` with a deadline check, a deadline loop `while time.monotonic() < deadline`
# that checks the store inside, and a bounded `for _ in range(n)` loop that breaks when the
# key arrives. Negative: a consumer loop that awaits real work each turn.
import asyncio
import time


class RpcClient:
    def __init__(self, publish) -> None:
        self.publish = publish
        self.results: dict[str, dict] = {}

    def on_message(self, key: str, payload: dict) -> None:
        self.results[key] = payload

    async def call(self, key: str, request: dict, timeout: float = 5.0):
        self.publish(key, request)
        deadline = time.monotonic() + timeout
        while key not in self.results:  # expect: polling
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)
        return self.results.pop(key)

    async def call_deadline_first(self, key: str, request: dict, timeout: float = 5.0):
        self.publish(key, request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # expect: polling
            if key in self.results:
                return self.results.pop(key)
            await asyncio.sleep(0.1)
        raise TimeoutError(key)

    async def call_bounded(self, key: str, request: dict):
        self.publish(key, request)
        for _ in range(50):  # expect: polling
            if key in self.results:
                break
            await asyncio.sleep(0.1)
        return self.results.pop(key, None)


async def consume(queue: asyncio.Queue, handle) -> None:
    while True:  # expect: none
        item = await queue.get()
        await handle(item)
        queue.task_done()
