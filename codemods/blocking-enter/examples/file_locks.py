# Exercises: a sync `with` in a coroutine entering an inter-process lock, built in the
# statement, held by a local, a module global or a `self` attribute; the locks that make
# one attempt and do not wait (`timeout=0`, `blocking=False`); `async with`; thread locks;
# and a sync helper that enters one, reported at its call site in the coroutine.
import asyncio
import json
import tempfile
import threading
from pathlib import Path

from filelock import AsyncFileLock, FileLock, Timeout

LOCK_DIR = Path(tempfile.gettempdir())
MIGRATION_LOCK = FileLock(LOCK_DIR / "migrations.lock")
_cache_lock = threading.Lock()
_cache: dict[str, str] = {}


async def build_starter_projects(build) -> None:
    lock = FileLock(LOCK_DIR / "starter_projects.lock", timeout=5)
    try:
        with lock:  # expect: blocking-enter
            await build()
    except Timeout:
        pass


async def save_state(state: dict) -> None:
    with FileLock(LOCK_DIR / "state.lock", timeout=5):  # expect: blocking-enter
        text = json.dumps(state)
        (LOCK_DIR / "state.json").write_text(text)  # expect: file-io
    print("saved", len(text))


async def migrate(run) -> None:
    with MIGRATION_LOCK:  # expect: blocking-enter
        await run()


class Worker:
    def __init__(self, name: str) -> None:
        self.lock = FileLock(LOCK_DIR / f"{name}.lock")
        self.try_lock = FileLock(LOCK_DIR / f"{name}.sweep.lock", timeout=0)

    async def process(self, job) -> None:
        with self.lock as held:  # expect: blocking-enter
            await job(held)

    async def sweep(self, job) -> None:
        # One attempt: raises Timeout at once when another worker sweeps.
        try:
            with self.try_lock:  # expect: none
                await job()
        except Timeout:
            pass


async def single_flight(job) -> None:
    try:
        with FileLock(LOCK_DIR / "single.lock", blocking=False):  # expect: none
            await job()
    except Timeout:
        pass


async def awaited_lock(job) -> None:
    async with AsyncFileLock(LOCK_DIR / "async.lock"):  # expect: none
        await job()


async def cached(key: str) -> str | None:
    with _cache_lock:  # expect: none -- a thread lock around a dict read
        return _cache.get(key)


def rebuild_index(path: Path) -> None:
    with FileLock(path.with_suffix(".lock")):  # expect: none -- sync code may block
        path.touch()


async def reindex(path: Path) -> None:
    # indirect: rebuild_index enters a FileLock
    rebuild_index(path)  # expect: to-thread


async def reindex_offloaded(path: Path) -> None:
    await asyncio.to_thread(rebuild_index, path)  # expect: none


async def write_marker(path: Path) -> None:
    def locked_write() -> None:
        with FileLock(path.with_suffix(".lock")):  # expect: none
            path.write_text("done")

    # indirect: the nested helper enters a FileLock where it is called
    locked_write()  # expect: to-thread
