# Exercises: a blocking project helper handed an asyncio object (a task, a future) is still
# reported, but not moved to a thread: there it would use the object, which asyncio does not
# allow (a done callback added from another thread). A plain value made from one is fine.

import asyncio


def writing_on(task, *, name):
    with open("/tmp/places", "a") as places:
        places.write(name)  # expect: none
    task.add_done_callback(lambda _ended: print(name))


def record(label):
    with open("/tmp/labels", "a") as labels:
        labels.write(label)


async def run(coro_factory):
    task = asyncio.create_task(coro_factory())
    writing_on(task, name="background_run")  # expect: to-thread
    await task


async def run_inline(coro):
    writing_on(asyncio.ensure_future(coro), name="inline")  # expect: to-thread


async def on_the_loop():
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    writing_on(future, name="future")  # expect: to-thread


async def plain_values(coro_factory):
    task = asyncio.create_task(coro_factory())
    record(str(task))  # expect: to-thread
    await task
