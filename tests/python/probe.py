"""Event-loop stall probe for the differential scenario tests (tests/python_scenarios.rs).

    UNBLOCK_PROBE_OUT=stall.json python probe.py main.py [ARGS...]

Runs `main.py` as `__main__` (as `python main.py` would: `sys.argv`, `sys.path[0]` and
`__file__` are the script's) with `asyncio.run` patched so that every event loop it starts
also runs a probe task. The probe wakes every 5 ms and records how late each wake-up is; the
longest delay is how long the loop was blocked. At exit, `{"max_stall_ms": float, "runs": int,
"total_ms": float}` is written as JSON to the file named by `UNBLOCK_PROBE_OUT` (`runs` counts
the loops probed, `total_ms` is the time spent inside them).

The probe prints nothing: the program's stdout is untouched. `asyncio.run` called where it
must fail (inside a running loop, or with something that is not a coroutine) is passed
straight to the real one, so the program sees exactly the original error. Exceptions and exit
codes of the program propagate unchanged.
"""

import asyncio
import asyncio.runners
import atexit
import functools
import json
import os
import runpy
import sys
import threading
import time

INTERVAL = 0.005  # seconds between probe wake-ups

_lock = threading.Lock()
_result = {"max_stall_ms": 0.0, "runs": 0, "total_ms": 0.0}


def _record(late_seconds):
    late_ms = late_seconds * 1000.0
    with _lock:
        if late_ms > _result["max_stall_ms"]:
            _result["max_stall_ms"] = late_ms


class _Probe:
    """Tracks when the loop should next run the probe; any lateness is a stall."""

    def __init__(self):
        # The probe task is created before the program's coroutine takes its first step: if that
        # step blocks, the probe's first run is late by as much.
        self.due = time.perf_counter()

    async def run(self):
        while True:
            now = time.perf_counter()
            _record(now - self.due)
            self.due = now + INTERVAL
            await asyncio.sleep(INTERVAL)

    def finish(self):
        # A block in the program's last step (after its last await) delays the pending wake-up.
        _record(time.perf_counter() - self.due)


async def _probed(main):
    probe = _Probe()
    task = asyncio.ensure_future(probe.run())
    try:
        return await main
    finally:
        probe.finish()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


_real_run = asyncio.run


@functools.wraps(_real_run)
def _run(main, **kwargs):
    if asyncio.events._get_running_loop() is not None or not asyncio.iscoroutine(main):
        # The real asyncio.run raises here; let it, with its own message.
        return _real_run(main, **kwargs)
    with _lock:
        _result["runs"] += 1
    started = time.perf_counter()
    try:
        return _real_run(_probed(main), **kwargs)
    finally:
        with _lock:
            _result["total_ms"] += (time.perf_counter() - started) * 1000.0


def _write_result(path):
    with _lock:
        data = dict(_result)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: probe.py SCRIPT [ARGS...]")
    out = os.environ.get("UNBLOCK_PROBE_OUT")
    if out:
        atexit.register(_write_result, os.path.abspath(out))
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    asyncio.run = _run
    asyncio.runners.run = _run
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
