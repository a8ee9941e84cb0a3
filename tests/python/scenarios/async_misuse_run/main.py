"""Handlers that start an event loop inside a coroutine instead of awaiting.

Both raise RuntimeError in the original (a loop is already running); awaited, they work.
"""
import asyncio
import sys

events = []


async def notify(channel):
    await asyncio.sleep(0.01)
    events.append(channel)
    return len(events)


async def on_deploy():
    count = asyncio.run(notify("ops"))
    print(f"deploy: {count} notification(s) sent")


async def on_rollback():
    loop = asyncio.get_running_loop()
    count = loop.run_until_complete(notify("dev"))
    print(f"rollback: {count} notification(s) sent")


def main():
    for handler in (on_deploy, on_rollback):
        try:
            asyncio.run(handler())
        except RuntimeError as exc:
            print(f"{handler.__name__} failed: {exc}", file=sys.stderr)
    print("events:", events)


if __name__ == "__main__":
    main()
