"""A webhook fan-out: twenty deliveries to a slow (200 ms) endpoint, gathered. With requests each
delivery blocks the loop, so they run one after another; rewritten onto the configured shared
httpx.AsyncClient they overlap."""
import asyncio
import time

import requests

from http_server import start

BASE, _ = start()


async def deliver(event_id):
    resp = requests.post(BASE + "/echo", json={"event": event_id}, timeout=5)
    resp.raise_for_status()
    slow = requests.get(BASE + "/slow", timeout=5)
    return resp.json()["json"]["event"], slow.text


async def main():
    # One delivery alone first: the yardstick, measured on this machine under its current load.
    started = time.perf_counter()
    await deliver(-1)
    one = time.perf_counter() - started
    started = time.perf_counter()
    results = await asyncio.gather(*(deliver(i) for i in range(20)))
    elapsed = time.perf_counter() - started
    print("delivered", sorted(event for event, _ in results))
    print("answers", sorted({text for _, text in results}))
    # Twenty blocking deliveries cannot take less than twenty times the server's 200 ms; twenty
    # overlapping ones take about one delivery's time. Half of twenty deliveries' time lies far
    # from both, so neither a slow machine nor a fast one moves a run across it.
    if elapsed >= 20 * 0.2:
        print("twenty 200 ms deliveries took at least 4 s: one after another")
    elif elapsed < 10 * one:
        print("twenty 200 ms deliveries took less than ten deliveries' time: concurrently")
    else:
        print(f"twenty 200 ms deliveries took {elapsed:.1f} s, one took {one:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
