"""Cancels or resumes subscriptions kept as files, as khoj's update_subscription does with
stripe, and reads the last line of one."""
import asyncio
import os
import tempfile


async def update(folder: str, operation: str) -> dict:
    subscription = None
    names = sorted(os.listdir(folder))
    if operation == "cancel":
        for subscription in names:
            os.utime(os.path.join(folder, subscription), (0, 0))
        return {"success": True}
    elif operation == "resubscribe":
        for subscription in names:
            if subscription.endswith("b"):
                return {"success": True, "which": subscription}
    return {"success": False, "last": subscription}


async def last_line(folder: str, name: str, flag: bool) -> str:
    text = "none"
    if flag:
        with open(os.path.join(folder, name)) as f:
            text = f.read().splitlines()[-1]
    return text


async def main(folder: str) -> None:
    print(await update(folder, "cancel"))
    print(os.stat(os.path.join(folder, "sub-b")).st_mtime)
    print(await update(folder, "resubscribe"))
    print(await update(folder, "other"))
    print(await last_line(folder, "sub-a", True))
    print(await last_line(folder, "sub-a", False))


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("sub-a", "sub-b"):
            with open(os.path.join(tmp, name), "w") as f:
                f.write("active\n")
        asyncio.run(main(tmp))


if __name__ == "__main__":
    run()
