# Exercises: waiting for another process with psutil from a coroutine (seen in an agent back
# end's sandbox teardown: up to 15 s on the loop). Sending the signal does not wait; asking
# the process's state reads /proc; the same wait on a worker thread is not a finding.
import asyncio

import psutil


async def stop(pid: int) -> None:
    process = psutil.Process(pid)  # expect: none
    if process.is_running():  # expect: none
        process.terminate()  # expect: none
        try:
            process.wait(timeout=10)  # expect: to-thread
        except psutil.TimeoutExpired:
            process.kill()  # expect: none
            process.wait(timeout=5)  # expect: to-thread


async def stop_all(pids: list[int]) -> None:
    processes = [psutil.Process(pid) for pid in pids]
    for process in processes:
        process.terminate()  # expect: none
    psutil.wait_procs(processes, timeout=3)  # expect: to-thread


async def stop_off_the_loop(pid: int) -> None:
    process = psutil.Process(pid)
    process.terminate()  # expect: none
    await asyncio.to_thread(process.wait, 10)  # expect: none
