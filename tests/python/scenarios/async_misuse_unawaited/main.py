"""A project coroutine called without await: its work silently never happens."""
import asyncio

audit_log = []


async def audit(action):
    await asyncio.sleep(0)
    audit_log.append(action)


async def handle(action):
    audit(action)
    await asyncio.sleep(0.01)
    return f"handled {action}"


async def main():
    results = await asyncio.gather(handle("create"), handle("delete"))
    for result in results:
        print(result)
    for action in audit_log:
        print("audit:", action)
    print("audited", len(audit_log), "of", len(results))


if __name__ == "__main__":
    asyncio.run(main())
