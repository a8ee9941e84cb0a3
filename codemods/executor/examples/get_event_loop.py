# Exercises: `asyncio.get_event_loop()` inside a coroutine (a finding, rewritten to
# `asyncio.get_running_loop()`), also via `from asyncio import get_event_loop`. Not findings:
# the same call at module level, in sync functions, in a nested sync callback inside a
# coroutine, and `get_running_loop()` itself.
import asyncio
from asyncio import get_event_loop


async def schedule_later(cb, delay: float) -> None:
    loop = asyncio.get_event_loop()  # expect: executor
    loop.call_later(delay, cb)


async def now() -> float:
    return get_event_loop().time()  # expect: executor


async def already_fixed() -> float:
    return asyncio.get_running_loop().time()  # expect: none


async def register(signals) -> None:
    def on_signal() -> None:
        asyncio.get_event_loop().stop()  # expect: none

    signals.append(on_signal)


def main() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    print(asyncio.get_event_loop() is loop)  # expect: none
