# Exercises: concurrent.futures fan-out inside coroutines, reported at the
# `ThreadPoolExecutor(` line: `map` collected into a list, and `submit` + `result()`. The
# `map`/`submit`/`result` calls inside a recognised pattern belong to that finding. Negatives:
# an executor handed to `run_in_executor` (the loop awaits it), already-migrated gather code.
# A `result()` on a future from a module-level pool is a plain to-thread finding.
import asyncio
import concurrent.futures
from concurrent.futures import ThreadPoolExecutor

POOL = ThreadPoolExecutor(max_workers=4)


def fetch_price(symbol: str) -> float:
    return 0.0


def resize(image: bytes) -> bytes:
    return image


async def prices(symbols: list[str]) -> list[float]:
    with ThreadPoolExecutor(max_workers=8) as pool:  # expect: thread-join
        return list(pool.map(fetch_price, symbols))


async def thumbnails(images: list[bytes]) -> list[bytes]:
    with concurrent.futures.ThreadPoolExecutor() as pool:  # expect: thread-join
        futures = [pool.submit(resize, img) for img in images]
        return [f.result() for f in futures]


async def offload_with_pool(images: list[bytes]) -> list[bytes]:
    loop = asyncio.get_running_loop()
    return await asyncio.gather(
        *(loop.run_in_executor(POOL, resize, img) for img in images)  # expect: none
    )


async def already_migrated(symbols: list[str]) -> list[float]:
    return await asyncio.gather(
        *(asyncio.to_thread(fetch_price, s) for s in symbols)  # expect: none
    )


async def one_price(symbol: str) -> float:
    return POOL.submit(fetch_price, symbol).result()  # expect: to-thread
