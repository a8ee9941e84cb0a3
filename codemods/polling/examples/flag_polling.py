# Exercises: polling a boolean flag set by another task or thread, and loops that look similar
# but are not polling. Positives: `while not self.ready: await asyncio.sleep(0.1)` and a
# module-level flag. Negatives: a heartbeat (`while True: await publish(); await
# asyncio.sleep(30)`), a retry loop that awaits the operation and sleeps only on failure, a
# periodic worker guarded by a running flag that does awaited work every turn, and a sync
# polling loop (not async context).
import asyncio
import time

CONNECTED = False


class Device:
    def __init__(self) -> None:
        self.ready = False
        self.running = True

    def on_connect(self) -> None:
        self.ready = True

    async def wait_ready(self) -> None:
        while not self.ready:  # expect: polling
            await asyncio.sleep(0.1)

    async def run(self, tick) -> None:
        while self.running:  # expect: none
            await tick()
            await asyncio.sleep(1)


async def wait_connected() -> None:
    while not CONNECTED:  # expect: polling
        await asyncio.sleep(0.25)


async def heartbeat(publish) -> None:
    while True:  # expect: none
        await publish("status/alive", b"1")
        await asyncio.sleep(30)


async def fetch_with_retry(fetch, attempts: int = 5):
    for attempt in range(attempts):  # expect: none
        try:
            return await fetch()
        except ConnectionError:
            await asyncio.sleep(2 ** attempt)
    raise RuntimeError("gave up")


def wait_ready_sync(device: Device) -> None:
    while not device.ready:  # expect: none
        time.sleep(0.1)  # expect: none
