# Exercises: waiting on threads and queues, input(), things that look blocking but are not
# (constructing a Lock, time.time, Queue.get_nowait, asyncio.Queue), and the interprocedural
# case: a sync project helper that blocks (directly or two calls down) is reported at the
# call site in the coroutine; handing the helper to a thread is not a finding.
import asyncio
import queue
import threading
import time

import requests

jobs: "queue.Queue[str]" = queue.Queue()
lock = threading.Lock()  # expect: none
ready = threading.Event()


def post_json(url: str, payload: dict) -> int:
    return requests.post(url, json=payload, timeout=5).status_code  # expect: none


def send_webhook(url: str, event: dict) -> int:
    return post_json(url, {"event": event})  # expect: none


def format_event(event: dict) -> str:
    return f"{event.get('type')} at {time.time()}"  # expect: none


async def handle(url: str, event: dict) -> int:
    print(format_event(event))  # expect: none
    return send_webhook(url, event)  # expect: to-thread -- indirect: send_webhook -> post_json -> requests.post


async def handle_offloaded(url: str, event: dict) -> int:
    return await asyncio.to_thread(send_webhook, url, event)  # expect: none


async def next_job() -> str:
    return jobs.get()  # expect: to-thread


async def next_job_if_any():
    try:
        return jobs.get_nowait()  # expect: none
    except queue.Empty:
        return None


async def next_async_job(q: asyncio.Queue) -> str:
    return await q.get()  # expect: none


async def critical_section(counter: list) -> None:
    lock.acquire()  # expect: to-thread
    try:
        counter[0] += 1
    finally:
        lock.release()  # expect: none


async def new_lock() -> threading.Lock:
    return threading.Lock()  # expect: none


async def wait_until_ready() -> None:
    ready.wait(timeout=10)  # expect: to-thread


async def confirm(prompt: str) -> bool:
    return input(prompt).strip().lower() == "y"  # expect: to-thread


async def confirm_suppressed(prompt: str) -> bool:
    return input(prompt) == "y"  # noqa: ASYNC250  # expect: none
