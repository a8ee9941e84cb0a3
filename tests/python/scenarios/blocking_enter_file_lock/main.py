"""A worker saves its state under a file lock that another holder keeps for a while."""
import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path

from filelock import FileLock

HOLD_SECONDS = 0.6


async def save_state(root: Path, state: dict) -> int:
    with FileLock(root / "state.lock", timeout=5):
        text = json.dumps(state, sort_keys=True)
        (root / "state.json").write_text(text)
    return len(text)


async def heartbeat(beats: int) -> int:
    for _ in range(beats):
        await asyncio.sleep(0.02)
    return beats


async def main(root: Path, held: threading.Event) -> None:
    await asyncio.to_thread(held.wait)
    saved, beats = await asyncio.gather(save_state(root, {"worker": 1, "jobs": [3, 5]}), heartbeat(5))
    print("saved", saved, "characters; heartbeats:", beats)


def hold(root: Path, held: threading.Event) -> None:
    # Another holder (a thread here, a process in production): its own FileLock instance on
    # the same file, which flock keeps exclusive.
    with FileLock(root / "state.lock"):
        held.set()
        time.sleep(HOLD_SECONDS)


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        held = threading.Event()
        holder = threading.Thread(target=hold, args=(root, held))
        holder.start()
        asyncio.run(main(root, held))
        holder.join()
        print((root / "state.json").read_text())


if __name__ == "__main__":
    run()
