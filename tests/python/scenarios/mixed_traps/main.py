"""Nightly maintenance jobs, full of things a codemod can get wrong.

The first line of this docstring is printed: it must stay the module docstring.
"""
from __future__ import annotations

import time as t
from asyncio import gather, run, to_thread
from subprocess import run as sh


async def vacuum(db: Database | None) -> str:
    t.sleep(0.3)
    return "vacuumed"


async def snapshot() -> str:
    sh(["sleep", "0.25"], check=True)
    return "snapshot taken"


async def rotate(names: list[str]) -> list[str]:
    def compress(name: str) -> str:
        t.sleep(0.3)
        return f"{name}.gz"

    return list(await gather(*(to_thread(compress, name) for name in names)))


async def label() -> str:
    return await to_thread(lambda: t.sleep(0.2) or "labelled")


async def warm(keys: list[str]) -> int:
    return sum(t.sleep(0.004) or len(key) for key in keys)


async def main() -> None:
    vacuumed, snap, rotated, labelled, warmed = await gather(
        vacuum(None), snapshot(), rotate(["app.log", "db.log"]), label(), warm(["a", "bb", "ccc"])
    )
    print(__doc__.splitlines()[0])
    print(vacuumed, "/", snap, "/", labelled)
    print("rotated:", rotated)
    print("warmed:", warmed)
    print("annotations:", vacuum.__annotations__)


if __name__ == "__main__":
    run(main())
