"""The pre-3.9 spelling: get_event_loop() in a coroutine and run_in_executor with partial."""
import asyncio
import functools
from functools import partial


def render(template, *, name, punctuation="!"):
    return template.format(name=name) + punctuation


def add(a, b, *, scale=1):
    return (a + b) * scale


async def greet(name):
    loop = asyncio.get_event_loop()
    text = await loop.run_in_executor(
        None, functools.partial(render, "Hello, {name}", name=name, punctuation=".")
    )
    return text, loop.is_running()


async def total(a, b):
    loop = asyncio.get_event_loop()
    return await loop.run_in_executor(None, partial(add, a, b, scale=10))


async def main():
    (text, running), value = await asyncio.gather(greet("Ada"), total(2, 3))
    print(text)
    print("loop was running:", running)
    print("total:", value)


if __name__ == "__main__":
    asyncio.run(main())
