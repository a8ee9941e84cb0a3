"""Attachment downloads streamed with requests (`stream=True` in a `with` block, `iter_content`
in a loop) and a worker whose `self.session` is used only in async methods, against a local
server. The rewrite (unsafe fixes: chunk boundaries, the client's lifetime) must give the same
sizes, bytes and statuses."""
import asyncio
import hashlib

import requests

from http_server import start

BASE, REFUSED = start()


async def download(path):
    size = 0
    digest = hashlib.sha256()
    with requests.get(BASE + path, stream=True, timeout=(2, 5)) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_content(chunk_size=1000):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()[:16]


async def download_missing():
    try:
        with requests.get(BASE + "/missing", stream=True, timeout=5) as resp:
            resp.raise_for_status()
            return "downloaded"
    except requests.HTTPError:
        return "HTTPError handler"


class Worker:
    def __init__(self, token):
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}"})

    async def push(self, event):
        try:
            resp = self.session.post(BASE + "/events", json=event, timeout=5)
            resp.raise_for_status()
        except requests.RequestException:
            return "RequestException handler"
        return resp.json()["json"], resp.status_code

    async def ping(self):
        try:
            self.session.get(REFUSED + "/ping", timeout=2)
        except requests.Timeout:
            return "Timeout handler"
        except requests.ConnectionError:
            return "ConnectionError handler"
        return "answered"


async def main():
    print("download", await download("/bytes"))
    print("download_missing", await download_missing())
    worker = Worker("t0ken")
    print("push", await worker.push({"id": 7}))
    print("ping", await worker.ping())


if __name__ == "__main__":
    asyncio.run(main())
