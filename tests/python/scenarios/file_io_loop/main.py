"""Sizes the files of an upload folder, one entry at a time, inside a coroutine."""
import asyncio
import os
import tempfile

ENTRIES = 4000


async def folder_report(root: str) -> dict:
    files = 0
    folders = 0
    size = 0
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            folders += 1
        elif os.path.exists(path):
            files += 1
            size += os.path.getsize(path)
    return {"files": files, "folders": folders, "bytes": size}


async def main(root: str) -> None:
    report = await folder_report(root)
    print("report:", report)


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(ENTRIES):
            if i % 10 == 0:
                os.mkdir(os.path.join(tmp, f"d{i:05}"))
            else:
                with open(os.path.join(tmp, f"f{i:05}.txt"), "w") as f:
                    f.write("x" * (i % 7))
        asyncio.run(main(tmp))


if __name__ == "__main__":
    run()
