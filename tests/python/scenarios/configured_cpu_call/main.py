"""A CPU-bound project function called inline from coroutines.

`crunch` is listed in pyproject.toml as `main.crunch`: the catalogue cannot know it blocks.
"""
import asyncio

ROUNDS = 5_000_000


def crunch(n):
    total = 0
    for i in range(n):
        total = (total * 31 + i) % 1_000_003
    return total


async def score(n):
    value = crunch(n) + 1
    return value


async def width(n):
    return crunch(n).bit_length()


async def pinger(count):
    replies = []
    for i in range(count):
        await asyncio.sleep(0.01)
        replies.append(i)
    return len(replies)


async def main():
    points = await score(ROUNDS)
    bits, pings = await asyncio.gather(width(ROUNDS), pinger(20))
    print("score:", points)
    print("bits:", bits)
    print("pings:", pings)


if __name__ == "__main__":
    asyncio.run(main())
