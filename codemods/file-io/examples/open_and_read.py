# Exercises: open() in coroutines and the reads and writes on the file it returns (each call is
# its own finding), `io.open`, `json.load(open(...))`, `os.fdopen`, a file opened in a nested
# sync helper handed to a thread, aiofiles (not a finding) and in-memory streams (not a finding).
import asyncio
import io
import json
import os

import aiofiles


async def load_settings(path: str) -> dict:
    with open(path, encoding="utf-8") as f:  # expect: file-io
        return json.load(f)


async def read_lines(path: str) -> list[str]:
    with io.open(path) as f:  # expect: file-io
        return f.readlines()  # expect: file-io


async def append_log(path: str, line: str) -> None:
    f = open(path, "a")  # expect: file-io
    f.write(line + "\n")  # expect: file-io
    f.close()


async def quick_load(path: str) -> dict:
    return json.load(open(path))  # expect: file-io


async def from_descriptor(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as f:  # expect: file-io
        return f.read()  # expect: file-io


async def offloaded(path: str) -> bytes:
    def read_all() -> bytes:
        with open(path, "rb") as f:  # expect: none
            return f.read()  # expect: none

    return await asyncio.to_thread(read_all)


async def native(path: str) -> str:
    async with aiofiles.open(path) as f:  # expect: none
        return await f.read()  # expect: none


async def in_memory(text: str) -> str:
    buf = io.StringIO(text)  # expect: none
    return buf.read()  # expect: none


async def suppressed(path: str) -> str:
    with open(path) as f:  # noqa: ASYNC230  # expect: none
        return f.read()  # unblock: ignore[file-io]  # expect: none
