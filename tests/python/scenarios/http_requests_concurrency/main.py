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
    started = time.perf_counter()
    results = await asyncio.gather(*(deliver(i) for i in range(20)))
    elapsed = time.perf_counter() - started
    print("delivered", sorted(event for event, _ in results))
    print("answers", sorted({text for _, text in results}))
    if elapsed >= 4:
        print("twenty 200 ms deliveries took at least 4 s: one after another")
    elif elapsed < 1:
        print("twenty 200 ms deliveries took under 1 s: concurrently")
    else:
        print(f"twenty 200 ms deliveries took {elapsed:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
