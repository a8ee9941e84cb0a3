# Exercises: module-level HTTP functions and the ways they are imported. Covers aliases
# (`import requests as rq`, `from requests import post`, `import urllib.request`,
# `from urllib.request import urlopen`), a call spanning several lines, calls inside a list
# comprehension and a generator expression, a local variable shadowing the module name,
# mentions in comments and docstrings, and suppression comments.
import json
import urllib.request
from urllib.request import urlopen

import httpx
import requests
import requests as rq
from requests import post


async def send_alert(webhook_url: str, text: str) -> int:
    resp = requests.post(webhook_url, json={"text": text}, timeout=5)  # expect: http-requests
    return resp.status_code


async def fetch_profile(user_id: int) -> dict:
    r = rq.get(f"https://api.example.com/users/{user_id}", timeout=3)  # expect: http-requests
    return r.json()


async def push_metrics(batch: list[dict]) -> None:
    post("https://metrics.example.com/ingest", json=batch)  # expect: http-requests


async def create_ticket(payload: dict) -> str:
    resp = requests.request(  # expect: http-requests
        "POST",
        "https://tickets.example.com/api/tickets",
        json=payload,
        timeout=(3.05, 27),
    )
    return resp.json()["id"]


async def probe(url: str) -> bool:
    return httpx.head(url, follow_redirects=True).is_success  # expect: http-requests


async def read_feed(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:  # expect: http-requests
        return resp.read()


async def read_status(url: str) -> dict:
    return json.load(urlopen(url))  # expect: http-requests


async def fetch_all(urls: list[str]) -> list[int]:
    codes = [requests.get(u).status_code for u in urls]  # expect: http-requests
    return codes


async def total_size(urls: list[str]) -> int:
    # In a generator expression `await` cannot be added: reported, not auto-fixed.
    return sum(len(requests.get(u).content) for u in urls)  # expect: http-requests


async def lookup(keys: list[str]) -> list:
    requests = {"a": 1, "b": 2}  # a local dict shadows the module  # expect: none
    return [requests.get(k) for k in keys]  # expect: none


async def documented() -> None:
    """Never call requests.get(url) from here; use the shared AsyncClient."""  # expect: none
    # requests.post(url) would block the loop  # expect: none
    message = "requests.get(url)"  # expect: none
    print(message)


async def suppressed(url: str) -> None:
    requests.get(url)  # unblock: ignore  # expect: none
    requests.get(url)  # unblock: ignore[http-requests]  # expect: none
    requests.get(url)  # noqa: ASYNC210  # expect: none
    requests.get(url)  # unblock: ignore[sleep]  # expect: http-requests
    requests.get(url)  # noqa: ASYNC251  # expect: http-requests


def sync_client(url: str) -> dict:
    # Plain sync code is not async context.
    return requests.get(url, timeout=5).json()  # expect: none


async def already_async(url: str) -> dict:
    async with httpx.AsyncClient() as client:
        resp = await client.get(url)  # expect: none
    return resp.json()
