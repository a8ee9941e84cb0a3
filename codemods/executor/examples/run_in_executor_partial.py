# Exercises: `loop.run_in_executor(None, functools.partial(f, a, k=v))` in a coroutine (a
# finding, rewritten to `asyncio.to_thread(f, a, k=v)`), also with `from functools import
# partial` and with the loop stored on self. Not findings: run_in_executor(None, f, a) without
# partial, run_in_executor with an explicit pool, a partial that is not handed to an executor,
# and the same call in sync code.
import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from functools import partial

POOL = ThreadPoolExecutor(max_workers=2)


def scale_image(image: bytes, width: int, keep_ratio: bool = True) -> bytes:
    return image


async def resize(image: bytes, width: int) -> bytes:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(  # expect: executor
        None, functools.partial(scale_image, image, width=width, keep_ratio=True)
    )


async def resize_short(image: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, partial(scale_image, image, width=256))  # expect: executor


class Thumbnailer:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    async def make(self, image: bytes) -> bytes:
        return await self.loop.run_in_executor(None, partial(scale_image, image, 128))  # expect: executor


async def resize_positional(image: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, scale_image, image, 512)  # expect: none


async def resize_in_pool(image: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(POOL, partial(scale_image, image, width=64))  # expect: none


async def make_job(image: bytes):
    return partial(scale_image, image, width=32)  # expect: none


def resize_from_thread(loop: asyncio.AbstractEventLoop, image: bytes):
    return loop.run_in_executor(None, partial(scale_image, image, width=16))  # expect: none
