# Exercises: threading.Thread fan-out inside coroutines. Positives are reported once, at the
# `threading.Thread(` line; the `start()` and `join()` calls belong to that finding and carry
# no annotation of their own. Shapes: for loop + append + join loop, list comprehension +
# start loop + join loop, a single thread, `join(timeout=...)`, and `from threading import
# Thread`. Negatives: a daemon thread started and never joined here, a fan-out in sync code,
# and a join of a thread this function did not create (that one is a to-thread finding).
import threading
from threading import Thread


def load_into_cache(key: str) -> None:
    ...


def index_document(doc: dict) -> None:
    ...


def render(page: int) -> bytes:
    return b""


async def warm_caches(keys: list[str]) -> None:
    threads = []
    for key in keys:
        t = threading.Thread(target=load_into_cache, args=(key,))  # expect: thread-join
        threads.append(t)
        t.start()
    for t in threads:
        t.join()


async def reindex(docs: list[dict]) -> None:
    workers = [Thread(target=index_document, args=(doc,)) for doc in docs]  # expect: thread-join
    for w in workers:
        w.start()
    for w in workers:
        w.join()


async def render_one(page: int) -> None:
    t = threading.Thread(target=render, args=(page,))  # expect: thread-join
    t.start()
    t.join()


async def render_with_deadline(page: int) -> None:
    # join(timeout=...) returns with the thread still running: the fix is unsafe.
    t = threading.Thread(target=render, args=(page,), daemon=True)  # expect: thread-join
    t.start()
    t.join(timeout=5.0)


async def start_watcher(stop: threading.Event) -> None:
    watcher = threading.Thread(target=stop.wait, daemon=True)  # expect: none
    watcher.start()


def warm_caches_sync(keys: list[str]) -> None:
    threads = [threading.Thread(target=load_into_cache, args=(k,)) for k in keys]  # expect: none
    for t in threads:
        t.start()
    for t in threads:
        t.join()


async def wait_for_other(worker: threading.Thread) -> None:
    worker.join()  # expect: to-thread
