# Exercises: a module that imports `sleep` from asyncio (so a bare `sleep(...)` is the async
# one and is awaited), next to one explicit `time.sleep` that must still be found.
import time
from asyncio import sleep


async def heartbeat(send) -> None:
    while True:  # expect: none
        await send("ping")
        await sleep(30)  # expect: none


async def warm_up() -> None:
    time.sleep(0.2)  # expect: sleep
    await sleep(0.2)  # expect: none
