# Exercises: what is and is not async context. A nested plain `def` and a `lambda` inside an
# `async def` are not (they are usually handed to a thread); an `async def` nested in a sync
# function is. References to blocking functions handed to `asyncio.to_thread` or
# `run_in_executor` are not calls and must not be reported.
import asyncio
import functools

import requests


async def handler(url: str) -> int:
    def fetch() -> int:
        return requests.get(url, timeout=5).status_code  # expect: none

    return await asyncio.to_thread(fetch)


async def handler_lambda(url: str) -> int:
    loop = asyncio.get_running_loop()
    resp = await loop.run_in_executor(None, lambda: requests.get(url, timeout=5))  # expect: none
    return resp.status_code


async def handler_reference(url: str) -> int:
    resp = await asyncio.to_thread(requests.get, url, timeout=5)  # expect: none
    return resp.status_code


async def handler_executor_reference(url: str) -> int:
    loop = asyncio.get_running_loop()
    resp = await loop.run_in_executor(None, requests.get, url)  # expect: none
    return resp.status_code


def make_route(base: str):
    async def route(path: str) -> str:
        return requests.get(base + path, timeout=5).text  # expect: http-requests

    return route


def make_callback(url: str):
    # A sync closure, even though it is defined next to async code.
    return functools.partial(requests.post, url)  # expect: none


class Poller:
    async def run(self, url: str) -> None:
        callbacks = [lambda: requests.get(url)]  # expect: none
        await asyncio.gather(*(asyncio.to_thread(cb) for cb in callbacks))
