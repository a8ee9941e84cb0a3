# Exercises: the subprocess functions that wait for the child (run, check_call, check_output,
# getoutput) under `import subprocess`, `import subprocess as sp` and
# `from subprocess import check_output`; os.system and os.popen; references handed to
# asyncio.to_thread; asyncio's own subprocess API (not a finding); and suppression codes.
import asyncio
import os
import subprocess
import subprocess as sp
from subprocess import check_output


async def git_pull(repo: str) -> None:
    subprocess.run(["git", "-C", repo, "pull", "--ff-only"], check=True, timeout=120)  # expect: subprocess


async def current_commit(repo: str) -> str:
    out = check_output(["git", "-C", repo, "rev-parse", "HEAD"], text=True)  # expect: subprocess
    return out.strip()


async def disk_free() -> str:
    return sp.getoutput("df -h /")  # expect: subprocess


async def restart_service(name: str) -> int:
    return os.system(f"systemctl restart {name}")  # expect: subprocess


async def uptime() -> str:
    return os.popen("uptime").read()  # expect: subprocess


async def git_pull_offloaded(repo: str) -> None:
    await asyncio.to_thread(subprocess.run, ["git", "-C", repo, "pull"], check=True)  # expect: none


async def git_pull_native(repo: str) -> int:
    proc = await asyncio.create_subprocess_exec("git", "-C", repo, "pull")  # expect: none
    return await proc.wait()  # expect: none


def git_pull_sync(repo: str) -> None:
    subprocess.check_call(["git", "-C", repo, "pull"])  # expect: none


async def suppressed(repo: str) -> None:
    subprocess.run(["git", "status"], cwd=repo)  # noqa: ASYNC221  # expect: none
    subprocess.run(["git", "status"], cwd=repo)  # unblock: ignore[subprocess]  # expect: none
    subprocess.run(["git", "status"], cwd=repo)  # noqa: ASYNC220  # expect: subprocess
