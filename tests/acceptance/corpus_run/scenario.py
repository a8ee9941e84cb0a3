"""Runs the acceptance corpus `notify-service` against local stand-ins and prints a transcript.

Usage: scenario.py --work DIR   (with the corpus copy and fakes/ on PYTHONPATH; run by corpus_run.py)

The transcript (stdout) holds results, status codes and what the local servers received; it has no
timings, and lines whose order is legitimately concurrent are sorted. It must be the same for the
corpus as written and for the corpus after `unblock apply`. Lines tagged `[fixable:NAME]` show a
code path that is broken in the corpus on purpose (an un-awaited coroutine, `asyncio.run` or
`run_until_complete` inside a coroutine): corpus_run.py lets those, and only those, change, and only
to the outcome it names. stderr gets `STALL` lines: the longest gap between the ticks of a
heartbeat task on the event loop, per step and overall.

Left out, and why:
- `GET /admin/egress-ip` asks a fixed public host (api.ipify.org); nothing here may leave the
  machine, and the call carries a `noqa` so unblock leaves it alone anyway.
- `LLMWorker.run`'s retry when the broker is down sleeps 2 s, 4 s, ...; the fake broker always
  accepts, so that branch is not reached.
- `on_audio` (v1) with a file ffmpeg cannot read: the exception ends a fire-and-forget task and
  nothing observable comes out of it, before or after.
- `Bus.heartbeat`'s later beats (every 30 s): only the first beat of each worker is seen.
- `scripts/backfill.py` and the `__main__` blocks: cron and process entry points, never on the loop.
- `POST /notifications/events/v4` with an unreachable subscriber runs only with
  --include-known-bugs: the http-requests fix makes `deliver_one` really concurrent (the point of
  the fix), so the refused connection fails the `gather` at once and the handler answers 500 while
  the deliveries to the other subscribers are still in flight (gather does not cancel them; they
  finish after the response, unobserved). As written, each `requests.post` blocked in turn, so
  every delivery was over before the 500. The fix's note says so (`deliver_one` runs under
  `asyncio.gather` without `return_exceptions=True`).

`llm_worker`'s `__main__` restart loop (the same worker object run again by a new `asyncio.run`
after a ConnectionError) is run (restart_steps): it once caught `--propagate --unsafe-fixes`
turning `self.session` into an `httpx.AsyncClient` bound to the first loop; unblock now keeps the
session and moves its calls to a thread when the module restarts its loop in a loop.
- `/health`'s mail check also probes port 587 on 127.0.0.1 (hard-coded in app/main.py): normally
  closed, so `mail` is false; it is the same in both runs either way.
"""

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import services  # noqa: E402

INCLUDE_KNOWN_BUGS = False  # --include-known-bugs
# Steps whose behaviour unblock changes (see the module docstring); run only with --include-known-bugs.
KNOWN_BUG_STEPS = {"events v4 unreachable subscriber"}
HEX = re.compile(r"[0-9a-f]{32}")
WORK = ""  # the scratch folder of this run, printed as <work>
TIME_KEYS = {"uptime_s", "took_ms", "took_s", "at"}


def scrub(obj):
    """Replace what legitimately changes from run to run: uuid4 hex strings, clock readings."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in TIME_KEYS and isinstance(v, (int, float)):
                out[k] = "<time>"
            elif k == "expires_at" and isinstance(v, (int, float)):
                out[k] = f"<now+{round((v - time.time()) / 60)}min>"
            else:
                out[k] = scrub(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [scrub(v) for v in obj]
    if isinstance(obj, str):
        return HEX.sub("<hex>", obj.replace(WORK, "<work>") if WORK else obj)
    return obj


def emit(label: str, value) -> None:
    print(f"{label}: {json.dumps(scrub(value), sort_keys=True)}", flush=True)


def emit_fixable(name: str, label: str, value) -> None:
    print(f"[fixable:{name}] {label}: {json.dumps(scrub(value), sort_keys=True)}", flush=True)


def emit_servers(label: str, fixable: dict | None = None) -> None:
    """What the local servers received since the last call, sorted (deliveries may be concurrent)."""
    fixable = fixable or {}
    seen: dict[str, list[str]] = {}
    for kind, info in services.LOG.drain():
        seen.setdefault(kind, []).append(json.dumps(scrub(info), sort_keys=True))
    for kind in sorted(seen):
        if kind in fixable:
            continue
        print(f"{label} server {kind}: [{', '.join(sorted(seen[kind]))}]", flush=True)
    for kind, name in sorted(fixable.items()):
        print(f"[fixable:{name}] {label} server {kind}: [{', '.join(sorted(seen.get(kind, [])))}]", flush=True)


class StallMonitor:
    """A task that ticks every 2 ms and records the longest gap, per step and overall."""

    def __init__(self) -> None:
        self.step = "setup"
        self.per_step: dict[str, float] = {}
        self._task = None

    async def _run(self) -> None:
        last, step = time.perf_counter(), self.step
        while True:
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gap = now - last
            # A gap belongs to the step that was running when it began.
            if gap > self.per_step.get(step, 0.0):
                self.per_step[step] = gap
            last, step = now, self.step

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def report(self) -> None:
        for step, gap in sorted(self.per_step.items(), key=lambda kv: -kv[1]):
            print(f"STALL step={step} max_ms={gap * 1000:.1f}", file=sys.stderr)
        overall = max(self.per_step.values(), default=0.0)
        print(f"STALL overall max_ms={overall * 1000:.1f}", file=sys.stderr)


MONITOR = StallMonitor()


async def step(name: str) -> None:
    """Start a step; the pause lets the stall monitor tick, so that a stall is put on its own step."""
    await asyncio.sleep(0.005)
    MONITOR.step = name
    await asyncio.sleep(0.005)


FAKE_TOOLS = {
    # Command-line tools the corpus runs, as tiny Python scripts (ffmpeg, clamdscan, wkhtmltopdf are
    # not installed here; git would answer differently in a temp dir).
    "ffmpeg": """
import shutil, sys
args = sys.argv[1:]
src, dst = args[args.index("-i") + 1], args[-1]
try:
    shutil.copyfile(src, dst)
except OSError:
    sys.stderr.write(f"{src}: No such file or directory\\n")
    sys.exit(1)
""",
    "clamdscan": """
import sys
path = sys.argv[-1]
infected = b"EICAR" in open(path, "rb").read()
print(f"{path}: {'Eicar-Test-Signature FOUND' if infected else 'OK'}")
sys.exit(1 if infected else 0)
""",
    "wkhtmltopdf": """
import sys
src, out = sys.argv[-2], sys.argv[-1]
try:
    html = open(src, "rb").read()
except OSError:
    sys.exit(1)
open(out, "wb").write(b"%PDF-1.4 fake\\n" + html)
""",
    "git": """
import sys
if sys.argv[1:] == ["rev-parse", "--short", "HEAD"]:
    print("abc1234")
else:
    sys.exit(128)
""",
}


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connections to it are refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(work: Path, ports: dict, corpus_root: Path) -> None:
    base = f"http://127.0.0.1:{ports['http']}"
    bin_dir = work / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in FAKE_TOOLS.items():
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{body.lstrip()}")
        path.chmod(0o755)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    tmp = work / "tmp"
    (tmp / "speech").mkdir(parents=True)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None

    for sub in ("reports", "uploads", "audio"):
        (work / sub).mkdir()
    (work / "reports" / "weekly.json").write_text(json.dumps({"week": 47, "events": 1234, "failed": 3}))
    (work / "reports" / "weekly.meta.json").write_text(json.dumps({"kind": "weekly", "owner": "ops"}))
    (work / "reports" / "weekly.html").write_text("<h1>Week 47</h1>")
    (work / "audio" / "note-1.ogg").write_text("hello there\nplease call me back\n")
    (work / "audio" / "note-2.ogg").write_text("bonjour\n")

    # app/routers/files.py reads app/templates/manifest.json at import time; the corpus ships none.
    templates = corpus_root / "app" / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "manifest.json").write_text(
        json.dumps({"weekly": {"template": "weekly.html"}, "welcome": {"template": "welcome.txt"}})
    )
    (templates / "welcome.txt").write_text("Hi {name}, welcome.\n")
    (templates / "weekly.html").write_text("<h1>{week}</h1>\n")

    db = sqlite3.connect(work / "audit.sqlite3")
    db.execute("CREATE TABLE deliveries (event_id TEXT, subscriber_id TEXT, status TEXT, created_at INTEGER)")
    db.commit()
    db.close()

    config = {
        "env": "acceptance",
        "audit_db_path": str(work / "audit.sqlite3"),
        "redis_host": "127.0.0.1",
        "redis_port": 6379,
        "smtp_host": "127.0.0.1",
        "smtp_port": ports["smtp"],
        "smtp_fallback_host": "127.0.0.1",
        "mqtt_host": "127.0.0.1",
        "mqtt_port": ports["broker"],
        "llm_url": f"{base}/v1/chat/completions",
        "slack_webhook_url": f"{base}/slack",
        "oauth_client_id": services.CLIENT_ID,
        "oauth_client_secret": services.CLIENT_SECRET,
        "oauth_token_url": f"{base}/oauth/token",
        "oauth_userinfo_url": f"{base}/oauth/userinfo",
        "oauth_jwks_url": f"{base}/oauth/jwks",
        "oauth_authorize_url": "https://idp.example.test/authorize",
        "oauth_redirect_uri": "https://app.example.test/auth/callback",
        "report_dir": str(work / "reports"),
        "upload_dir": str(work / "uploads"),
        "relay_url": f"{base}/relay",
        "ops_email": "ops@example.test",
        "audit_url": f"{base}/audit",
        "avatar_cdn": f"{base}/cdn/avatars",
        "milvus_host": "127.0.0.1",
        "rerank_url": base,
    }
    (work / "settings.json").write_text(json.dumps(config))
    os.environ["APP_CONFIG"] = str(work / "settings.json")
    os.environ["TOOL_MANIFEST_URL"] = f"{base}/tools/manifest.json"
    os.environ["LLM_API_KEY"] = "k-test"


def patch_redis() -> None:
    """Every redis.Redis of the process talks to one in-memory fakeredis server."""
    import fakeredis
    import redis

    server = fakeredis.FakeServer()

    class SharedFakeRedis(fakeredis.FakeRedis):
        def __init__(self, *args, **kwargs):
            kwargs.pop("host", None)
            kwargs.pop("port", None)
            super().__init__(*args, server=server, **kwargs)

    redis.Redis = SharedFakeRedis


class Lifespan:
    """Drives the ASGI lifespan protocol, so that the app's startup hooks run as under a server."""

    def __init__(self, app) -> None:
        self.app = app
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.task = None

    async def _send(self, message) -> None:
        await self.outbox.put(message)

    async def startup(self) -> str:
        self.task = asyncio.create_task(self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, self.inbox.get, self._send))
        await self.inbox.put({"type": "lifespan.startup"})
        return (await self.outbox.get())["type"]

    async def shutdown(self) -> str:
        await self.inbox.put({"type": "lifespan.shutdown"})
        reply = (await self.outbox.get())["type"]
        await self.task
        return reply


async def request(client, label: str, method: str, url: str, **kwargs):
    resp = await client.request(method, url, **kwargs)
    ctype = resp.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        body = resp.json()
    elif ctype.startswith("text/"):
        body = resp.text
    else:
        body = f"<{len(resp.content)} bytes {ctype}: {resp.content[:16]!r}>"
    extra = {}
    if "location" in resp.headers:
        extra["location"] = re.sub(r"state=[^&]+", "state=<state>", resp.headers["location"])
    emit(label, {"status": resp.status_code, "body": body, **extra})
    return resp


async def wait_for(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise TimeoutError(f"timed out waiting for {what}")


def published_since(mark: int, prefix: str = "") -> list[tuple[str, object]]:
    from paho.mqtt.client import BROKER

    out = []
    for topic, payload in BROKER.published[mark:]:
        if topic.startswith(prefix) and not topic.endswith("/heartbeat"):
            try:
                out.append((topic, json.loads(payload)))
            except ValueError:
                out.append((topic, payload.decode(errors="replace")))
    return out


def broker_mark() -> int:
    from paho.mqtt.client import BROKER

    return len(BROKER.published)


async def notifications_steps(client, base: str, work: Path) -> None:
    from app.routers import notifications
    from app.utils.webhooks import Subscriber

    secret = services.WEBHOOK_SECRET
    notifications.SUBSCRIBERS.update(
        {
            "a": Subscriber("a", f"{base}/hooks/a", secret),
            "b": Subscriber("b", f"{base}/hooks/b", secret, events=("order.created",)),
            "fail": Subscriber("fail", f"{base}/hooks/fail", secret),
            "flaky": Subscriber("flaky", f"{base}/hooks/flaky", secret, events=("retry.only",)),
            "off": Subscriber("off", f"{base}/hooks/off", secret, active=False),
            "moved": Subscriber("moved", f"{base}/hooks/moved", secret, events=("moved.test",)),
            "down": Subscriber("down", f"http://127.0.0.1:{closed_port()}/hooks", secret, events=("down.test",)),
        }
    )
    n = "/notifications"
    steps = [
        ("events v1", "POST", f"{n}/events", {"json": {"id": "ev-1", "type": "order.created", "total": 42}}),
        ("events v1 other type", "POST", f"{n}/events", {"json": {"id": "ev-2", "type": "user.deleted"}}),
        ("events v2", "POST", f"{n}/events/v2", {"json": {"id": "ev-3", "type": "order.created"}}),
        ("events v3", "POST", f"{n}/events/v3", {"json": {"id": "ev-4", "type": "order.created"}}),
        ("events v4", "POST", f"{n}/events/v4", {"json": {"id": "ev-5", "type": "order.created"}}),
        ("events v3 redirected subscriber", "POST", f"{n}/events/v3", {"json": {"id": "ev-9", "type": "moved.test"}}),
        ("events v4 redirected subscriber", "POST", f"{n}/events/v4", {"json": {"id": "ev-10", "type": "moved.test"}}),
        ("events v3 unreachable subscriber", "POST", f"{n}/events/v3", {"json": {"id": "ev-11", "type": "down.test"}}),
        ("events v4 unreachable subscriber", "POST", f"{n}/events/v4", {"json": {"id": "ev-12", "type": "down.test"}}),
        ("test subscriber down", "POST", f"{n}/subscribers/down/test", {}),
        ("probe subscriber down", "GET", f"{n}/subscribers/down/probe", {}),
        ("test subscriber a", "POST", f"{n}/subscribers/a/test", {}),
        ("test subscriber fail", "POST", f"{n}/subscribers/fail/test", {}),
        ("test subscriber unknown", "POST", f"{n}/subscribers/zzz/test", {}),
        ("probe subscriber b", "GET", f"{n}/subscribers/b/probe", {}),
        ("probe subscriber fail", "GET", f"{n}/subscribers/fail/probe", {}),
        ("subscribers health", "GET", f"{n}/subscribers/health", {}),
        ("redeliver to flaky (one retry)", "POST", f"{n}/events/ev-6/redeliver/flaky", {"json": {"type": "retry.only"}}),
        ("redeliver to fail", "POST", f"{n}/events/ev-7/redeliver/fail", {"json": {"type": "order.created"}}),
        ("broadcast", "POST", f"{n}/broadcast", {"json": {"id": "ev-8", "type": "order.created"}}),
        (
            "digest",
            "POST",
            f"{n}/digest",
            {"json": {"subject": "Daily digest", "text": "3 events", "to": ["x@example.test", "y@example.test"]}},
        ),
        ("slack alert", "POST", f"{n}/alerts/slack", {"json": {"text": "disk almost full"}}),
        ("slack alert rejected", "POST", f"{n}/alerts/slack", {"json": {"text": "boom"}}),
        ("relay", "POST", f"{n}/relay", {"content": b'{"to": "bob", "text": "hi"}'}),
        ("relay non-ASCII body", "POST", f"{n}/relay", {"content": '{"to": "zoë", "text": "5 € café"}'.encode()}),
        ("relay upstream error", "POST", f"{n}/relay", {"content": b'{"to": "bob", "text": "fail"}'}),
        ("relay health", "GET", f"{n}/relay/health", {}),
        ("legacy relay status (sync route)", "GET", f"{n}/legacy/relay-status", {}),
    ]
    for label, method, url, kwargs in steps:
        if label in KNOWN_BUG_STEPS and not INCLUDE_KNOWN_BUGS:
            continue
        await step(f"notifications: {label}")
        await request(client, label, method, url, **kwargs)
        emit_servers(label)
    db = sqlite3.connect(work / "audit.sqlite3")
    rows = db.execute("SELECT event_id, subscriber_id, status FROM deliveries ORDER BY 1, 2").fetchall()
    db.close()
    emit("audit log deliveries", rows)


async def auth_steps(client) -> None:
    await step("auth: login")
    resp = await request(client, "login", "GET", "/auth/login")
    state = re.search(r"state=([^&]+)", resp.headers["location"]).group(1)
    from urllib.parse import unquote

    state = unquote(state)
    emit_servers("login")
    steps = [
        ("callback first login", "/auth/callback", {"code": "good", "state": state}),
        ("callback bad state", "/auth/callback", {"code": "good", "state": "nope"}),
        ("callback rejected code", "/auth/callback", {"code": "bad", "state": state}),
        ("callback returning user", "/auth/callback", {"code": "returning", "state": state}),
    ]
    for label, url, params in steps:
        await step(f"auth: {label}")
        await request(client, label, "GET", url, params=params)
        emit_servers(label, fixable={"audit": "audit-login-awaited"})
    for label, headers in (("me u-42", {"X-User-Id": "u-42"}), ("me u-7", {"X-User-Id": "u-7"}), ("me unknown", {"X-User-Id": "u-0"}), ("me anonymous", {})):
        await step(f"auth: {label}")
        await request(client, label, "GET", "/auth/me", headers=headers)
    for label, token in (("refresh", "rt-1"), ("refresh rejected", "rt-bad")):
        await step(f"auth: {label}")
        await request(client, label, "POST", "/auth/refresh", json={"refresh_token": token})
        emit_servers(label)
    await step("auth: jwks")
    await request(client, "jwks", "GET", "/auth/jwks")
    emit_servers("jwks")


async def files_steps(client, base: str, work: Path) -> None:
    steps = [
        ("report", "GET", "/files/reports/weekly", {}),
        ("report missing", "GET", "/files/reports/nope", {}),
        ("report meta", "GET", "/files/reports/weekly/meta", {}),
        ("report meta missing", "GET", "/files/reports/nope/meta", {}),
        ("template", "GET", "/files/templates/welcome", {}),
        ("template unknown", "GET", "/files/templates/nope", {}),
        ("render pdf", "POST", "/files/reports/weekly/pdf", {}),
        ("render pdf fails", "POST", "/files/reports/nope/pdf", {}),
        ("upload", "POST", "/files/uploads", {"files": {"file": ("notes.txt", b"meeting notes\n", "text/plain")}}),
        ("upload infected", "POST", "/files/uploads", {"files": {"file": ("x.com", b"X5O!P%@AP EICAR test", "application/octet-stream")}}),
        ("upload v2", "POST", "/files/uploads/v2", {"files": {"file": ("notes.txt", b"more notes\n", "text/plain")}}),
        ("upload v2 infected", "POST", "/files/uploads/v2", {"files": {"file": ("x.com", b"EICAR", "application/octet-stream")}}),
        ("attachment", "POST", "/files/attachments", {"json": {"url": f"{base}/download/blob"}}),
        ("attachment missing", "POST", "/files/attachments", {"json": {"url": f"{base}/download/missing"}}),
        ("attachment redirected", "POST", "/files/attachments", {"json": {"url": f"{base}/download/redirect"}}),
        ("attachment v2", "POST", "/files/attachments/v2", {"json": {"url": f"{base}/download/blob"}}),
        ("avatar", "GET", "/files/avatars/u-42", {}),
        ("avatar missing", "GET", "/files/avatars/u-0", {}),
    ]
    for label, method, url, kwargs in steps:
        await step(f"files: {label}")
        await request(client, label, method, url, **kwargs)
        emit_servers(label)
    await step("files: version")
    resp = await client.get("/files/version")
    body = resp.json()
    emit("version", {"status": resp.status_code, "rev": body.get("rev"), "disk_free_kb": type(body.get("disk_free_kb")).__name__})
    emit("report dir", sorted(p.name for p in (work / "reports").iterdir()))
    uploads = sorted((HEX.sub("<hex>", p.name), p.stat().st_size) for p in (work / "uploads").iterdir())
    emit("upload dir", uploads)
    await step("files: purge_old_uploads")
    from app.routers.files import purge_old_uploads

    emit("purge_old_uploads", purge_old_uploads())


async def health_steps(client) -> None:
    await step("main: health")
    await request(client, "health", "GET", "/health")
    emit_servers("health")


async def llm_steps() -> None:
    from app.workers import llm_worker
    from paho.mqtt import client as mqtt

    await step("llm worker: start")
    tool_service = mqtt.Client(client_id="tool-service")

    def on_tool_call(client, userdata, msg):
        call = json.loads(msg.payload)
        name = msg.topic.split("/")[1]
        client.publish(f"tools/{name}/result", json.dumps({"call_id": call["call_id"], "result": {"temp_c": 21, "args": call["arguments"]}}))

    tool_service.on_message = on_tool_call
    tool_service.connect("127.0.0.1", 1883)
    tool_service.subscribe("tools/+/call")
    tool_service.loop_start()
    publisher = mqtt.Client(client_id="scenario")
    publisher.connect("127.0.0.1", 1883)

    worker = llm_worker.build_worker()
    mark = broker_mark()
    runner = asyncio.create_task(worker.run())
    await wait_for(lambda: worker.tools or runner.done(), "the LLM worker to load its tools")
    emit("llm worker tools", worker.tools)
    emit_servers("llm worker start")

    await step("llm worker: two jobs")
    jobs = {
        "job-1": [{"role": "user", "content": "What is the weather in Paris?"}],
        "job-2": [{"role": "user", "content": "Say hi"}],
    }
    for job_id, messages in jobs.items():
        publisher.publish("llm/jobs", json.dumps({"id": job_id, "messages": messages}))

    def all_done():
        done = {t for t, p in published_since(mark, "jobs/") if t.endswith("/status") and p.get("status") == "done"}
        return len(done) == len(jobs)

    await wait_for(all_done, "both LLM jobs to finish", timeout=15)
    msgs = published_since(mark)
    for job_id in jobs:
        statuses = [p["status"] for t, p in msgs if t == f"jobs/{job_id}/status"]
        emit_fixable("llm-running-status", f"{job_id} statuses", statuses)
        emit(f"{job_id} result", [p for t, p in msgs if t == f"jobs/{job_id}/result"])
    emit("tool calls on the bus", sorted(json.dumps(scrub(p), sort_keys=True) for t, p in msgs if t.startswith("tools/")))
    emit("queued after the jobs", await worker.queued())
    emit_servers("llm jobs")
    await step("llm worker: stop")
    runner.cancel()
    try:
        await runner
    except asyncio.CancelledError:
        pass
    tool_service.loop_stop()


async def memory_steps(client) -> None:
    from app.workers.bus import Bus
    from app.workers.memory_worker import MemoryWorker
    from paho.mqtt import client as mqtt

    await step("memory worker: start")
    worker = MemoryWorker(Bus("127.0.0.1", 1883, client_id="memory"))
    emit("memory wait_until_ready before warm-up", await worker.wait_until_ready(timeout=0.3))
    try:
        await worker.warm_up()
        outcome = "ok"
    except RuntimeError as exc:
        outcome = f"RuntimeError: {exc}"
    emit_fixable("memory-warm-up", "memory warm_up", outcome)
    if not worker._index_ready:
        # What warm_up would have done, so that the rest runs on the corpus as written too.
        if not worker.bus._connected:
            await worker.bus.connect()
        await asyncio.to_thread(worker.collection.load)
        worker._index_ready = True
    emit("memory wait_until_ready after warm-up", await worker.wait_until_ready(timeout=1.0))
    worker.bus.subscribe("memory/#", worker.on_message)
    beat = asyncio.create_task(worker.bus.heartbeat("memory"))

    await step("memory worker: remember over the bus")
    publisher = mqtt.Client(client_id="scenario-memory")
    publisher.connect("127.0.0.1", 1883)
    notes = [("u-42", "I like my coffee black"), ("u-42", "The cat is called Miso"), ("u-42", "Coffee order: two espressos"), ("u-7", "Bob likes tea")]
    for user_id, text in notes:
        publisher.publish("memory/remember", json.dumps({"user_id": user_id, "text": text}))
    await wait_for(lambda: worker.collection.num_entities >= len(notes), "the memories to be stored")
    emit("memories stored", worker.collection.num_entities)

    await step("memory worker: recall over the bus")
    mark = broker_mark()
    publisher.publish("memory/recall", json.dumps({"user_id": "u-42", "query": "coffee", "k": 3, "reply_to": "memory/replies/r1"}))
    await wait_for(lambda: published_since(mark, "memory/replies/"), "the recall answer")
    emit("recall answer", published_since(mark, "memory/replies/"))
    emit_servers("recall")

    await step("memory worker: remember_batch")
    emit("remember_batch", await worker.remember_batch("u-9", ["first batch note", "second batch note"]))
    emit("memories stored after batch", worker.collection.num_entities)
    beat.cancel()

    await step("search: routes")
    await request(client, "search", "GET", "/search/", params={"q": "coffee", "k": 2})
    await request(client, "search embedding fails", "GET", "/search/", params={"q": "explode", "k": 2})
    await request(client, "search similar", "POST", "/search/similar", json=["black coffee", "coffee, black", "green tea"])
    await request(client, "search similar too many", "POST", "/search/similar", json=["x"] * 65)


async def speech_steps(work: Path, base: str) -> None:
    from app.workers.bus import Bus
    from app.workers.speech_worker import SpeechWorker
    from paho.mqtt import client as mqtt

    await step("speech worker: jobs")
    bus = Bus("127.0.0.1", 1883, client_id="speech")
    worker = SpeechWorker(bus)
    await bus.connect()
    bus.subscribe("speech/jobs", worker.on_message)
    publisher = mqtt.Client(client_id="scenario-speech")
    publisher.connect("127.0.0.1", 1883)
    mark = broker_mark()
    audio = work / "audio"
    jobs = [
        {"id": "s-1", "path": str(audio / "note-1.ogg"), "callback_url": f"{base}/speech-callback"},
        {"id": "s-2", "v": 2, "path": str(audio / "note-2.ogg"), "language": "fr"},
        {"id": "s-3", "v": 2, "path": str(audio / "missing.ogg")},
    ]
    for job in jobs:
        publisher.publish("speech/jobs", json.dumps(job))

    def finished():
        msgs = published_since(mark)
        ends = {t.split("/")[1] for t, p in msgs if t.endswith("/transcript")}
        ends |= {p["job"] for t, p in msgs if t.endswith("/status") and p.get("status") == "failed"}
        return len(ends) == len(jobs)

    await wait_for(finished, "the speech jobs to finish", timeout=15)
    msgs = published_since(mark)
    for job in jobs:
        emit(f"speech {job['id']} messages", [(t, p) for t, p in msgs if f"/{job['id']}/" in t])
    emit("speech wav files", sorted(p.name for p in (work / "tmp" / "speech").iterdir()))
    emit_servers("speech jobs")

    await step("speech worker: legacy path")
    mark = broker_mark()
    try:
        await worker.on_audio_legacy({"id": "s-4", "path": str(audio / "note-2.ogg"), "language": "fr"})
        outcome = "ok"
    except RuntimeError as exc:
        outcome = f"RuntimeError: {exc}"
    emit_fixable("speech-legacy-asyncio-run", "speech legacy outcome", outcome)
    emit_fixable("speech-legacy-asyncio-run", "speech legacy messages", published_since(mark))
    emit_servers("speech legacy")


def restart_steps() -> None:
    """llm_worker's `__main__`: the worker is built outside any event loop, and when `run()` dies of
    a ConnectionError (the broker dropped the connection, so a publish fails) the same worker is run
    again by a new `asyncio.run`. Each loop here handles one job with a tool call."""
    from app.workers import llm_worker
    from paho.mqtt import client as mqtt

    tool_service = mqtt.Client(client_id="tool-service-restart")

    def on_tool_call(client, userdata, msg):
        call = json.loads(msg.payload)
        client.publish(msg.topic.replace("/call", "/result"), json.dumps({"call_id": call["call_id"], "result": {"temp_c": 19}}))

    tool_service.on_message = on_tool_call
    tool_service.connect("127.0.0.1", 1883)
    tool_service.subscribe("tools/+/call")
    tool_service.loop_start()
    publisher = mqtt.Client(client_id="scenario-restart")
    publisher.connect("127.0.0.1", 1883)
    worker = llm_worker.build_worker()

    async def one_life(job_id: str) -> None:
        mark = broker_mark()
        runner = asyncio.create_task(worker.run())
        try:
            loop = asyncio.get_running_loop()
            ready = lambda: worker.bus._connected and worker.bus._loop is loop and "llm/jobs" in worker.bus._handlers and worker.tools
            await wait_for(ready, "the LLM worker to start")
            await asyncio.sleep(0.05)
            messages = [{"role": "user", "content": "What is the weather in Paris?"}]
            publisher.publish("llm/jobs", json.dumps({"id": job_id, "messages": messages}))
            done = lambda: [p for t, p in published_since(mark) if t == f"jobs/{job_id}/result"]
            try:
                emit(f"restart {job_id} result", await wait_for(done, f"{job_id} to finish", timeout=5))
            except TimeoutError as exc:
                emit(f"restart {job_id} result", str(exc))
        finally:
            runner.cancel()
        worker.bus._client.drop()
        await worker.bus.publish("workers/llm/heartbeat", {"ok": True}, qos=0)  # what the next beat does

    for life, job_id in enumerate(("job-r1", "job-r2")):
        try:
            asyncio.run(one_life(job_id))
        except ConnectionError as exc:
            emit(f"restart life {life + 1} ended", f"ConnectionError: {exc}")
    emit_servers("llm restart")
    tool_service.loop_stop()


async def main_async(work: Path, ports: dict) -> None:
    import httpx

    from app.main import app

    base = f"http://127.0.0.1:{ports['http']}"
    MONITOR.start()
    await step("main: startup")
    lifespan = Lifespan(app)
    emit("lifespan startup", await lifespan.startup())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("127.0.0.1", 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await health_steps(client)
        await notifications_steps(client, base, work)
        await auth_steps(client)
        await files_steps(client, base, work)
        await llm_steps()
        await memory_steps(client)
        await speech_steps(work, base)
    await step("main: shutdown")
    emit("lifespan shutdown", await lifespan.shutdown())
    await MONITOR.stop()
    MONITOR.report()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--include-known-bugs", action="store_true", help="also run KNOWN_BUG_STEPS")
    args = parser.parse_args()
    work = Path(args.work)
    global WORK, INCLUDE_KNOWN_BUGS
    WORK = str(work)
    INCLUDE_KNOWN_BUGS = args.include_known_bugs
    import app

    corpus_root = Path(app.__file__).resolve().parent.parent
    random.seed(1234)  # the retry helper's jitter
    ports = services.start()
    prepare(work, ports, corpus_root)
    patch_redis()
    asyncio.run(main_async(work, ports))
    restart_steps()
    emit("scenario", "complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
