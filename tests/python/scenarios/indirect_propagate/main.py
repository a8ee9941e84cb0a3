"""A report endpoint whose coroutines call sync helpers that block further down."""

import asyncio

import reports.store as store
from reports import load_report


async def get_report(name):
    return load_report(name)


async def report_line(name):
    line = store.summarise(name)
    return line, store.checksum(name)


async def heartbeat(beats):
    seen = 0
    for _ in range(beats):
        await asyncio.sleep(0.02)
        seen += 1
    return seen


async def main():
    daily, (line, check), beats = await asyncio.gather(
        get_report("daily"), report_line("weekly"), heartbeat(10)
    )
    print(daily)
    print(line, check)
    print("heartbeats:", beats)


asyncio.run(main())
