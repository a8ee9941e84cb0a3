"""Thread fan-outs in coroutines: ten 200 ms targets in a for loop, a comprehension, and a
single thread with work between start and join. One target raises: threading prints it and
swallows it, and so must the rewrite (stdout only is compared; stderr differs)."""
import asyncio
import queue
import threading
import time

results = {}


def fetch(item):
    time.sleep(0.2)
    if item == 7:
        raise ValueError("item 7 is broken")
    results[item] = item * item


def produce(out, item):
    time.sleep(0.2)
    out.put(item + 100)


async def loop_fan_out(items):
    threads = []
    for item in items:
        t = threading.Thread(target=fetch, args=(item,), name=f"fetch-{item}", daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return len(threads)


async def comprehension_fan_out(items):
    workers = [threading.Thread(target=fetch, kwargs={"item": item}) for item in items]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return len(workers)


async def single_with_work_between():
    out = queue.Queue()
    worker = threading.Thread(target=produce, args=(out, 1))
    worker.start()
    note = "started"
    worker.join()
    return note, out.get_nowait()


async def main():
    started = time.monotonic()
    count = await loop_fan_out(range(10))
    print("loop fan-out ran", count, "targets")
    print("results", sorted(results.items()))
    results.clear()
    count = await comprehension_fan_out(range(10, 20))
    print("comprehension fan-out ran", count, "targets")
    print("results", sorted(results.items()))
    print("single", await single_with_work_between())
    print("took long enough:", time.monotonic() - started >= 0.6)


if __name__ == "__main__":
    asyncio.run(main())
