# Exercises: open() in coroutines. Reads and writes on a handle opened in the same function are
# part of the open() finding (its fix moves the whole file work to a thread) and carry no
# marker; a handle that comes from elsewhere (a parameter annotated `TextIO`, an attribute set
# in `__init__`) is reported at each call. Also `io.open`, `json.load(open(...))`, `os.fdopen`,
# a file opened in a nested sync helper handed to a thread, aiofiles and in-memory streams.
import asyncio
import io
import json
import os
from typing import TextIO

import aiofiles


async def load_settings(path: str) -> dict:
    with open(path, encoding="utf-8") as f:  # expect: file-io
        return json.load(f)


async def read_lines(path: str) -> list[str]:
    with io.open(path) as f:  # expect: file-io
        return f.readlines()


async def append_log(path: str, line: str) -> None:
    f = open(path, "a")  # expect: file-io
    f.write(line + "\n")
    f.close()


async def quick_load(path: str) -> dict:
    return json.load(open(path))  # expect: file-io


async def from_descriptor(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as f:  # expect: file-io
        return f.read()


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


async def write_row(out: TextIO, row: list[str]) -> None:
    out.write(",".join(row) + "\n")  # expect: none -- a TextIO may be an in-memory buffer: not assumed to be a file


class AuditLog:
    def __init__(self, path: str) -> None:
        self.fh = open(path, "a", encoding="utf-8")

    async def record(self, event: str) -> None:
        self.fh.write(event + "\n")  # expect: file-io
        self.fh.flush()  # expect: file-io


async def suppressed(path: str) -> str:
    with open(path) as f:  # noqa: ASYNC230  # expect: none
        return f.read()  # unblock: ignore[file-io]  # expect: none
