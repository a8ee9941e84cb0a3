# Exercises: a project `async def` called as an expression statement inside a coroutine, its
# coroutine dropped unawaited (module function and `self.method`). Not findings: awaited,
# handed to create_task / gather / wait_for, stored and awaited later, returned, and a sync
# function or method called the same way.
import asyncio


async def notify_admins(event: dict) -> None:
    await asyncio.sleep(0)


async def audit(event: dict) -> None:
    await asyncio.sleep(0)


def log_event(event: dict) -> None:
    print(event)


class Cache:
    async def flush(self) -> None:
        await asyncio.sleep(0)

    def size(self) -> int:
        return 0

    async def close(self) -> None:
        self.flush()  # expect: async-misuse
        self.size()  # expect: none


async def on_deploy(event: dict) -> None:
    notify_admins(event)  # expect: async-misuse
    log_event(event)  # expect: none
    await audit(event)  # expect: none


async def on_deploy_background(event: dict, tasks: set) -> None:
    task = asyncio.create_task(notify_admins(event))  # expect: none
    tasks.add(task)
    await asyncio.gather(audit(event), notify_admins(event))  # expect: none
    await asyncio.wait_for(audit(event), timeout=5)  # expect: none
    pending = audit(event)  # expect: none
    await pending


async def forward(event: dict):
    return notify_admins(event)  # expect: none
