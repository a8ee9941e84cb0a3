# Exercises: methods on HTTP client objects, resolved through how the object reached the
# function: a local `requests.Session()`, `self.session` set in `__init__` and used in another
# async method, `with requests.Session() as s:`, a parameter annotated `requests.Session`,
# a module-level `httpx.Client()`, `requests.session()` (the lowercase factory), and an
# `httpx.AsyncClient` that must not be reported.
from typing import Optional

import httpx
import requests

http = httpx.Client(base_url="https://inventory.example.com", timeout=10)
shared_session = requests.Session()


class WebhookSender:
    def __init__(self, token: str) -> None:
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    async def send(self, url: str, event: dict) -> bool:
        resp = self.session.post(url, json=event, timeout=5)  # expect: http-requests
        return resp.ok

    def send_sync(self, url: str, event: dict) -> bool:
        return self.session.post(url, json=event).ok  # expect: none


async def crawl(urls: list[str]) -> list[str]:
    s = requests.Session()
    pages = []
    for url in urls:
        pages.append(s.get(url, timeout=5).text)  # expect: http-requests
    return pages


async def download(url: str) -> bytes:
    with requests.Session() as s:
        s.headers["User-Agent"] = "unblock-example"
        return s.get(url, timeout=30).content  # expect: http-requests


async def upload(session: requests.Session, url: str, blob: bytes) -> int:
    return session.put(url, data=blob).status_code  # expect: http-requests


async def maybe_upload(session: Optional[requests.Session], url: str) -> None:
    if session is not None:
        session.delete(url)  # expect: http-requests


async def stock_level(sku: str) -> int:
    return http.get(f"/stock/{sku}").json()["level"]  # expect: http-requests


async def ping_shared() -> int:
    return shared_session.head("https://status.example.com").status_code  # expect: http-requests


async def legacy_factory(url: str) -> str:
    s = requests.session()
    return s.get(url).text  # expect: http-requests


async def native(url: str) -> str:
    async with httpx.AsyncClient() as client:
        r = await client.get(url)  # expect: none
    return r.text


async def headers_only(url: str) -> dict:
    # Building a request without sending it does no I/O.
    req = requests.Request("GET", url)  # expect: none
    return dict(req.headers)
