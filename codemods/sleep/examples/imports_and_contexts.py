# Exercises: time.sleep under every import spelling (`import time`, `import time as t`,
# `from time import sleep`, `from time import sleep as pause`), and the async-context rules:
# nested plain `def` and `lambda` in a coroutine are not async context, an `async def` nested
# in a sync function is, an async method is. `asyncio.sleep` and `time.time` are not findings.
import asyncio
import time
import time as t
from time import sleep
from time import sleep as pause


async def retry(op, attempts: int = 3):
    for attempt in range(attempts):
        try:
            return await op()
        except ConnectionError:
            time.sleep(2 ** attempt)  # expect: sleep
    raise RuntimeError("gave up")


async def throttle() -> None:
    t.sleep(0.5)  # expect: sleep


async def settle() -> None:
    sleep(1)  # expect: sleep
    pause(0.1)  # expect: sleep


async def fine() -> float:
    started = time.time()  # expect: none
    await asyncio.sleep(0.1)  # expect: none
    return time.monotonic() - started  # expect: none


async def offloaded() -> None:
    def slow_step() -> None:
        time.sleep(2)  # expect: none

    await asyncio.to_thread(slow_step)
    await asyncio.to_thread(time.sleep, 1)  # expect: none
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, lambda: time.sleep(1))  # expect: none


def build_worker(delay: float):
    async def worker() -> None:
        time.sleep(delay)  # expect: sleep

    return worker


class Backoff:
    def __init__(self, base: float) -> None:
        self.base = base

    def wait_sync(self, attempt: int) -> None:
        time.sleep(self.base * attempt)  # expect: none

    async def wait(self, attempt: int) -> None:
        time.sleep(self.base * attempt)  # expect: sleep


def blocking_main() -> None:
    time.sleep(1)  # expect: none
