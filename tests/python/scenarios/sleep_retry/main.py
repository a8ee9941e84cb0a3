"""Retry helpers that back off with a blocking time.sleep inside coroutines."""
import asyncio
import time
from time import sleep

attempts = {"primary": 0, "replica": 0}


async def connect(name, failures):
    attempts[name] += 1
    await asyncio.sleep(0)
    if attempts[name] <= failures:
        raise ConnectionError(f"{name} refused attempt {attempts[name]}")
    return f"{name} connected on attempt {attempts[name]}"


async def with_retry(name, failures, tries=3):
    errors = []
    for _ in range(tries):
        try:
            return await connect(name, failures), errors
        except ConnectionError as exc:
            errors.append(str(exc))
            time.sleep(0.3)
    raise RuntimeError(f"{name}: gave up after {tries} tries")


async def retry_once(name):
    try:
        return await connect(name, 1)
    except ConnectionError:
        sleep(0.15)
    return await connect(name, 1)


async def heartbeat(beats):
    seen = []
    for beat in range(beats):
        seen.append(beat)
        await asyncio.sleep(0.02)
    return seen


async def main():
    (primary, errors), replica, beats = await asyncio.gather(
        with_retry("primary", 1),
        retry_once("replica"),
        heartbeat(5),
    )
    print(primary)
    for error in errors:
        print("retried after:", error)
    print(replica)
    print("heartbeats:", beats)
    print("attempts:", sorted(attempts.items()))


if __name__ == "__main__":
    asyncio.run(main())
