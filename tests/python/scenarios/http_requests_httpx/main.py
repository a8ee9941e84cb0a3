"""Webhook, auth and integration handlers that call HTTP services with requests inside
coroutines, against a local server: JSON, redirects, a 404, a 500, a read timeout, a refused
connection, form / text / JSON bodies, and urlopen. Every handler prints what it saw, including
which `except` clause ran."""
import asyncio
import json
import urllib.request

import requests
import requests as rq
from requests import post

from http_server import start

BASE, REFUSED = start()
TIMEOUT = 5


async def get_json():
    r = requests.get(BASE + "/json", params={"q": "x"}, timeout=TIMEOUT)
    return r.json()


async def follows_redirects():
    r = requests.get(BASE + "/redirect", timeout=5)
    return r.status_code, r.json()["ok"], len(r.history)


async def redirect_not_followed():
    r = rq.get(BASE + "/redirect", allow_redirects=False, timeout=5)
    return r.status_code, r.ok, r.headers["Location"]


async def head_does_not_follow():
    r = requests.head(BASE + "/redirect", timeout=5)
    return r.status_code


async def not_found():
    r = requests.get(BASE + "/missing", timeout=5)
    if not r.ok:
        return "not ok", r.status_code, r.reason
    return "ok"


async def server_error():
    try:
        r = requests.get(BASE + "/error", timeout=5)
        r.raise_for_status()
    except requests.HTTPError as exc:
        return "HTTPError handler", exc.response.status_code
    except requests.RequestException:
        return "RequestException handler"
    return "no error"


async def read_timeout():
    try:
        r = requests.get(BASE + "/hang", timeout=1.0)
        return r.text
    except requests.Timeout:
        return "Timeout handler"
    except requests.ConnectionError:
        return "ConnectionError handler"


async def refused():
    try:
        r = requests.get(REFUSED + "/json", timeout=2)
        return r.text
    except requests.Timeout:
        return "Timeout handler"
    except requests.ConnectionError:
        return "ConnectionError handler"


async def refused_generic():
    try:
        requests.post(REFUSED + "/hook", json={"a": 1}, timeout=2)
    except (requests.exceptions.RequestException, KeyError):
        return "RequestException handler"
    return "sent"


async def text_body():
    r = post(BASE + "/echo", data="plain text body", timeout=(2, 5))
    echoed = r.json()
    return echoed["body"], echoed["content_type"]


async def form_body():
    r = requests.post(BASE + "/echo", data={"a": "1", "b": "two"}, timeout=5)
    return r.json()["content_type"], r.json()["body"]


async def json_body():
    r = requests.request(
        "PUT",
        BASE + "/echo",
        json={"x": [1, 2]},
        headers={"X-Test": "1"},
        timeout=5,
    )
    return r.json()["json"], r.json()["content_type"]


async def positional_params():
    r = requests.get(BASE + "/json", {"page": "2"}, timeout=5)
    return r.json()["query"]


async def post_redirect():
    r = requests.post(BASE + "/redirect", data=b"payload", timeout=5)
    return r.status_code, r.url.endswith("/json")


async def no_timeout():
    r = requests.get(BASE + "/slow")
    return r.text


async def as_expression():
    return requests.get(BASE + "/json", timeout=5).json()["ok"]


async def two_calls_one_try():
    status = None
    try:
        status = requests.get(BASE + "/json", timeout=5).status_code
        second = requests.get(BASE + "/error", timeout=5)
        second.raise_for_status()
    except requests.HTTPError:
        return "HTTPError handler", status
    return "no error", status


async def bad_json():
    # requests' JSONDecodeError is a RequestException; httpx's is not an httpx.HTTPError:
    # the rewrite is unsafe, so without --unsafe-fixes this handler stays as it is.
    try:
        r = requests.get(BASE + "/not-json", timeout=5)
        return r.json()
    except requests.RequestException:
        return "RequestException handler"


async def through_urlopen():
    with urllib.request.urlopen(BASE + "/json", timeout=5) as resp:
        return json.load(resp)["ok"]


async def main():
    handlers = [
        get_json,
        follows_redirects,
        redirect_not_followed,
        head_does_not_follow,
        not_found,
        server_error,
        read_timeout,
        refused,
        refused_generic,
        text_body,
        form_body,
        json_body,
        positional_params,
        post_redirect,
        no_timeout,
        as_expression,
        two_calls_one_try,
        bad_json,
        through_urlopen,
    ]
    for handler in handlers:
        print(handler.__name__, await handler())


if __name__ == "__main__":
    asyncio.run(main())
