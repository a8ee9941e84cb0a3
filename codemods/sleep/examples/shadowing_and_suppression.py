# Exercises: names that look like time.sleep but are not (a parameter named `sleep`,
# `from asyncio import sleep`, a local `time` object), mentions in strings and comments,
# and suppression comments: `# unblock: ignore`, `# unblock: ignore[sleep]` and
# `# noqa: ASYNC251` silence the finding; an ignore for another recipe or another code does not.
import time


async def with_injected_sleep(sleep) -> None:
    # `sleep` here is whatever the caller passed (an async sleep in tests).
    await sleep(1)  # expect: none


async def with_local_clock() -> None:
    class FakeTime:
        def sleep(self, seconds: float) -> None:
            pass

    time = FakeTime()
    time.sleep(5)  # expect: none


async def documented() -> None:
    """Do not use time.sleep(1) here."""  # expect: none
    # time.sleep(1) would freeze the loop  # expect: none
    hint = "time.sleep(1)"  # expect: none
    print(hint)


async def suppressed() -> None:
    time.sleep(0.01)  # unblock: ignore  # expect: none
    time.sleep(0.01)  # unblock: ignore[sleep]  # expect: none
    time.sleep(0.01)  # noqa: ASYNC251  # expect: none
    time.sleep(0.01)  # unblock: ignore[file-io]  # expect: sleep
    time.sleep(0.01)  # noqa: ASYNC210  # expect: sleep
    time.sleep(0.01)  # expect: sleep
