# Exercises: starting an event loop from inside a coroutine: `asyncio.run(...)` and
# `loop.run_until_complete(...)` (also `from asyncio import run`). Not findings: asyncio.run
# under `if __name__ == "__main__":` and in sync code, and asyncio.run in a nested sync
# function that is run on a worker thread (where it starts that thread's own loop, correctly).
import asyncio
from asyncio import run


async def refresh_cache() -> None:
    await asyncio.sleep(0)


async def on_deploy() -> None:
    asyncio.run(refresh_cache())  # expect: async-misuse


async def on_deploy_alias() -> None:
    run(refresh_cache())  # expect: async-misuse


async def on_deploy_loop() -> None:
    loop = asyncio.get_running_loop()
    loop.run_until_complete(refresh_cache())  # expect: async-misuse


async def on_deploy_in_thread() -> None:
    def worker() -> None:
        asyncio.run(refresh_cache())  # expect: none

    await asyncio.to_thread(worker)


def cli() -> None:
    asyncio.run(refresh_cache())  # expect: none


if __name__ == "__main__":
    asyncio.run(refresh_cache())  # expect: none
