# Exercises: a Popen started in a coroutine and then waited on with communicate() / wait(),
# including a Popen used as a context manager (whose exit waits for the child: the whole block
# moves) and one stored on self; os.waitpid. Creating the Popen is reported too: it forks and
# waits until the child has exec'd. The wait() of an asyncio.subprocess.Process is awaited and
# is not a finding.
import asyncio
import os
import subprocess


async def transcode(src: str, dst: str) -> bytes:
    proc = subprocess.Popen(["ffmpeg", "-i", src, dst], stderr=subprocess.PIPE)  # expect: subprocess
    _out, err = proc.communicate(timeout=600)  # expect: subprocess
    return err


async def run_script(path: str) -> int:
    with subprocess.Popen(["bash", path]) as proc:  # expect: subprocess
        return proc.wait()  # expect: subprocess


class Worker:
    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(cmd)

    async def stop(self) -> int:
        self.proc.terminate()  # expect: none
        return self.proc.wait(timeout=10)  # expect: subprocess


async def reap(pid: int) -> int:
    _pid, status = os.waitpid(pid, 0)  # expect: subprocess
    return status


async def native(cmd: list[str]) -> bytes:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
    out, _err = await proc.communicate()  # expect: none
    return out
