# Exercises: the httpx rewrite on the shapes back ends are full of: a webhook with `except`
# clauses to map and `resp.ok`, an OAuth token exchange with a (connect, read) timeout and a
# form body, a relay posting a text body without a timeout, a streamed download, a session in a
# `with` block, and two calls the rewrite must leave to a thread (hooks, a response handed on).
import requests
import requests as rq


async def notify(url: str, event: dict) -> bool:
    try:
        r = requests.post(url, json=event, timeout=10)  # expect: http-requests
        r.raise_for_status()
    except requests.Timeout:
        return False
    except requests.RequestException:
        return False
    return r.ok


async def exchange_code(token_url: str, code: str, client_id: str, secret: str) -> dict:
    resp = rq.post(  # expect: http-requests
        token_url,
        data={"grant_type": "authorization_code", "code": code},
        auth=(client_id, secret),
        timeout=(3.05, 15),
    )
    if not resp.ok:
        raise PermissionError(resp.reason)
    return resp.json()


async def relay(url: str, raw: bytes) -> int:
    resp = requests.request("POST", url, data=raw.decode("utf-8"))  # expect: http-requests
    return resp.status_code


async def download(url: str, sink) -> int:
    size = 0
    with requests.get(url, stream=True, timeout=(3.05, 30)) as resp:  # expect: http-requests
        resp.raise_for_status()
        for chunk in resp.iter_content(chunk_size=65536):
            sink(chunk)
            size += len(chunk)
    return size


async def crawl(urls: list[str]) -> list[str]:
    pages = []
    with requests.Session() as s:
        s.headers["User-Agent"] = "crawler/1.0"
        for url in urls:
            pages.append(s.get(url, timeout=5).text)  # expect: http-requests
    return pages


async def traced(url: str, log) -> int:
    return requests.get(url, hooks={"response": log}, timeout=5).status_code  # expect: http-requests


async def fetch(url: str):
    return requests.get(url, timeout=5)  # expect: http-requests
