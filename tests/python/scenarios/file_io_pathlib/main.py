"""Notes written and read with pathlib, listed with os.listdir, all inside coroutines."""
import asyncio
import os
import tempfile
from pathlib import Path


async def write_note(root: Path, name: str, lines: list) -> str:
    path = root / f"{name}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path.name


async def read_note(root: Path, name: str) -> list:
    text = (root / name).read_text(encoding="utf-8")
    return text.splitlines()


async def list_notes(root: Path) -> list:
    return sorted(os.listdir(root))


async def main(root: Path) -> None:
    written = await asyncio.gather(
        *(write_note(root, f"note{i}", [f"line {j} of note {i}" for j in range(i + 1)]) for i in range(3))
    )
    print("written:", written)
    names = await list_notes(root)
    print("listed:", names)
    for name in names:
        lines = await read_note(root, name)
        print(name, "->", lines)


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))


if __name__ == "__main__":
    run()
