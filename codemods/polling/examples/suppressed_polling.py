# Exercises: suppression on the loop header. `# unblock: ignore[polling]` and ruff's
# `# noqa: ASYNC110` (async-busy-wait) on the `while` line silence the finding; an ignore
# for another recipe does not.
import asyncio


class Job:
    done = False


async def wait_a(job: Job) -> None:
    while not job.done:  # unblock: ignore[polling]  # expect: none
        await asyncio.sleep(0.5)


async def wait_b(job: Job) -> None:
    while not job.done:  # noqa: ASYNC110  # expect: none
        await asyncio.sleep(0.5)


async def wait_c(job: Job) -> None:
    while not job.done:  # unblock: ignore[sleep]  # expect: polling
        await asyncio.sleep(0.5)
