"""Coroutines that shell out with the blocking subprocess API."""
import asyncio
import subprocess
import sys


async def pause_in_child():
    proc = subprocess.run(["sleep", "0.3"], check=True)
    return proc.returncode


async def ask_child():
    out = subprocess.check_output([sys.executable, "-c", "print(6 * 7)"], text=True)
    return int(out.strip())


async def ticker(ticks):
    count = 0
    for _ in range(ticks):
        await asyncio.sleep(0.02)
        count += 1
    return count


async def main():
    code, answer, ticks = await asyncio.gather(pause_in_child(), ask_child(), ticker(10))
    print("sleep exited with", code)
    print("child answered", answer)
    print("ticks while waiting:", ticks)


if __name__ == "__main__":
    asyncio.run(main())
