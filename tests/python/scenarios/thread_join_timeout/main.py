"""join(timeout) with an is_alive() check after it, and ThreadPoolExecutor map / submit +
result() in coroutines: rewritten only with --unsafe-fixes (asyncio.wait returns on timeout as
join did; the pool's first-exception order and max_workers are what change)."""
import asyncio
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def slow_square(x):
    time.sleep(0.2)
    return x * x


def embed(out, delay):
    time.sleep(delay)
    out.put(("ok", delay))


async def with_deadline(delay, timeout):
    out = queue.Queue(maxsize=1)
    worker = threading.Thread(target=embed, args=(out, delay), daemon=True)
    worker.start()
    worker.join(timeout=timeout)
    if worker.is_alive():
        return "timed out"
    return out.get_nowait()


async def squares_map(xs):
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(slow_square, xs))


async def squares_submit(xs):
    with ThreadPoolExecutor() as pool:
        futures = [pool.submit(slow_square, x) for x in xs]
        return [f.result() for f in futures]


async def main():
    print("fast:", await with_deadline(0.05, 1.0))
    print("slow:", await with_deadline(0.4, 0.2))
    print("map:", await squares_map(range(6)))
    print("submit:", await squares_submit(range(6, 12)))


if __name__ == "__main__":
    asyncio.run(main())
