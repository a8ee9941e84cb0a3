# Exercises: pathlib reads and writes (on `Path(...)` directly, on a local, on a parameter
# annotated `Path`, through `.parent` / `with_suffix`), file-system changes with os and shutil,
# the stat-style metadata calls ruff's ASYNC240 also reports, and pure path arithmetic that
# does no I/O and must not be reported.
import os
import os.path
import shutil
from pathlib import Path


async def read_template(name: str) -> str:
    return Path("templates", name).read_text(encoding="utf-8")  # expect: file-io


async def save_upload(dest: Path, data: bytes) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)  # expect: file-io
    dest.write_bytes(data)  # expect: file-io
    return dest.with_suffix(".done")  # expect: none


async def rotate(log: Path) -> None:
    backup = log.with_suffix(".1")  # expect: none
    if backup.exists():  # expect: file-io
        backup.unlink()  # expect: file-io
    log.rename(backup)  # expect: file-io


async def cleanup(workdir: str, archive: str) -> None:
    shutil.make_archive(archive, "gztar", workdir)  # expect: file-io
    shutil.rmtree(workdir)  # expect: file-io
    os.remove(archive + ".tmp")  # expect: file-io


async def list_reports(root: str) -> list[str]:
    names = os.listdir(root)  # expect: file-io
    return [os.path.join(root, n) for n in names if n.endswith(".csv")]  # expect: none


async def size_of(path: str) -> int:
    if not os.path.isfile(path):  # expect: file-io
        return 0
    return os.path.getsize(path)  # expect: file-io


async def names_only(path: str) -> tuple[str, str]:
    p = Path(path)  # expect: none
    stem = p.stem  # expect: none
    return os.path.basename(path), os.path.splitext(stem)[0]  # expect: none
