"""The corpus's outside world, all on 127.0.0.1 in daemon threads of the scenario's process.

- one HTTP server standing in for the LLM server, the OAuth provider (token, userinfo, JWKS), the
  Slack webhook, webhook subscribers, the relay, the rerank service, the audit service, the tool
  manifest, the CDN, downloads and the speech callback;
- a small SMTP server;
- a TCP port that accepts connections, standing in for the MQTT broker's port (the health endpoint
  probes it with a socket; the MQTT traffic itself goes through the fake paho module).

Each server appends what it received to `Log`, which the scenario drains after each step.
"""

import base64
import email
import email.policy
import hashlib
import hmac
import json
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

WEBHOOK_SECRET = "s3cret"
CLIENT_ID, CLIENT_SECRET = "notify-app", "client-pw"
LLM_SECONDS = 0.15  # a model call takes a while
DOWNLOAD = bytes((i * 7) % 251 for i in range(150_000))


class Log:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[str, dict]] = []

    def add(self, kind: str, info: dict) -> None:
        with self._lock:
            self._items.append((kind, info))

    def drain(self) -> list[tuple[str, dict]]:
        with self._lock:
            items, self._items = self._items, []
        return items


LOG = Log()


def _check_signature(header: str | None, payload) -> str:
    """The sender signs the compact, key-sorted JSON of the payload (not the bytes on the wire)."""
    if header is None:
        return "unsigned"
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        mac = hmac.new(WEBHOOK_SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
        return "valid" if hmac.compare_digest(mac.hexdigest(), parts["v1"]) else "invalid"
    except (KeyError, ValueError):
        return "malformed"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    flaky_dropped: set[str] = set()
    flaky_lock = threading.Lock()

    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, body=b"", content_type="application/json") -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_body(self):
        raw = self.body()
        return json.loads(raw) if raw else None

    # -- GET / HEAD --

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlparse(self.path)
        path = url.path
        if path == "/health":
            self.reply(200, {"status": "ok"})
        elif path == "/tools/manifest.json":
            LOG.add("tools-manifest", {"method": self.command})
            self.reply(200, {"tools": [{"type": "function", "function": {"name": "weather", "parameters": {}}}]})
        elif path == "/oauth/userinfo":
            auth = self.headers.get("Authorization", "")
            LOG.add("oauth-userinfo", {"authorization": auth})
            if auth == "Bearer at-1":
                self.reply(200, {"sub": "u-42", "email": "ada@example.com", "name": "Ada"})
            elif auth == "Bearer at-r":
                self.reply(200, {"sub": "u-7", "email": "bob@example.com", "name": "Bob"})
            else:
                self.reply(401, {"error": "invalid_token"})
        elif path == "/oauth/jwks":
            LOG.add("oauth-jwks", {})
            self.reply(200, {"keys": [{"kty": "RSA", "kid": "k1", "n": "qq", "e": "AQAB"}]})
        elif path.startswith("/hooks/"):
            name = path.rsplit("/", 1)[1]
            LOG.add("hook-" + self.command.lower(), {"hook": name})
            self.reply(500 if name == "fail" else 200, {"hook": name})
        elif path == "/relay/status":
            LOG.add("relay-status", {})
            self.reply(200, {"relay": "up", "queue": 0})
        elif path == "/download/redirect":
            LOG.add("download", {"name": "redirect"})
            self.send_response(302)
            self.send_header("Location", "/download/blob")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/download/"):
            name = path.rsplit("/", 1)[1]
            LOG.add("download", {"name": name})
            if name == "missing":
                self.reply(404, {"error": "not found"})
            else:
                self.reply(200, DOWNLOAD, "application/octet-stream")
        elif path.startswith("/cdn/avatars/"):
            name = path.rsplit("/", 1)[1]
            LOG.add("avatar", {"name": name})
            if name == "u-42.png":
                self.reply(200, b"\x89PNG\r\n\x1a\nfake-avatar", "image/png")
            else:
                self.reply(404, b"no such avatar", "text/plain")
        else:
            LOG.add("unknown-get", {"path": path})
            self.reply(404, {"error": "no route"})

    # -- POST --

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        if path == "/v1/chat/completions":
            self.llm()
        elif path == "/usage":
            LOG.add("llm-usage", {"auth": self.headers.get("Authorization"), "body": self.json_body()})
            self.reply(204, b"")
        elif path == "/oauth/token":
            self.token()
        elif path == "/slack":
            body = self.json_body()
            LOG.add("slack", {"body": body, "user_agent": self.headers.get("User-Agent")})
            self.reply(500 if body.get("text") == "boom" else 200, b"ok", "text/plain")
        elif path.startswith("/hooks/"):
            self.hook(path.rsplit("/", 1)[1])
        elif path == "/relay/v1/messages":
            raw = self.body()
            LOG.add("relay", {"content_type": self.headers.get("Content-Type"), "body": json.loads(raw)})
            if b"fail" in raw:
                self.reply(503, {"error": "overloaded"})
            else:
                self.reply(202, {"accepted": True})
        elif path == "/rerank":
            body = self.json_body()
            LOG.add("rerank", {"body": body})
            docs = body["documents"]
            order = sorted(range(len(docs)), key=lambda i: (len(docs[i]), docs[i]))
            self.reply(200, {"order": order})
        elif path == "/audit":
            body = self.json_body()
            body["at"] = "<time>" if isinstance(body.get("at"), float) else body.get("at")
            LOG.add("audit", {"body": body})
            self.reply(201, {"ok": True})
        elif path == "/speech-callback":
            body = self.json_body()
            LOG.add("speech-callback", {"body": {k: v for k, v in body.items() if k != "took_s"}})
            self.reply(200, {"ok": True})
        else:
            LOG.add("unknown-post", {"path": path})
            self.reply(404, {"error": "no route"})

    def llm(self) -> None:
        body = self.json_body()
        LOG.add(
            "llm",
            {
                "auth": self.headers.get("Authorization"),
                "roles": [m["role"] for m in body["messages"]],
                "tools": [t["function"]["name"] for t in body.get("tools", [])],
                "temperature": body.get("temperature"),
            },
        )
        time.sleep(LLM_SECONDS)
        last = body["messages"][-1]
        first = body["messages"][0]["content"]
        if last["role"] == "tool":
            message = {"role": "assistant", "content": f"It is {json.loads(last['content'])['temp_c']} C in Paris."}
        elif "weather" in first:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call-1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
                ],
            }
        else:
            message = {"role": "assistant", "content": "Hello!"}
        usage = {"prompt_tokens": 10 * len(body["messages"]), "completion_tokens": 5}
        self.reply(200, {"choices": [{"index": 0, "message": message}], "usage": usage})

    def token(self) -> None:
        form = {k: v[0] for k, v in parse_qs(self.body().decode()).items()}
        auth = self.headers.get("Authorization", "")
        basic = base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else None
        LOG.add("oauth-token", {"form": form, "basic_auth": basic, "content_type": self.headers.get("Content-Type")})
        if basic != f"{CLIENT_ID}:{CLIENT_SECRET}":
            self.reply(401, {"error": "invalid_client"})
        elif form.get("grant_type") == "authorization_code" and form.get("code") == "good":
            self.reply(200, {"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 3600, "first_login": True})
        elif form.get("grant_type") == "authorization_code" and form.get("code") == "returning":
            self.reply(200, {"access_token": "at-r", "refresh_token": "rt-r", "expires_in": 1800})
        elif form.get("grant_type") == "refresh_token" and form.get("refresh_token") == "rt-1":
            self.reply(200, {"access_token": "at-2", "expires_in": 60})
        else:
            self.reply(400, {"error": "invalid_grant"})

    def hook(self, name: str) -> None:
        if name == "moved":
            self.body()
            LOG.add("hook-post-redirected", {"hook": name})
            self.send_response(302)
            self.send_header("Location", "/hooks/moved-target")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if name.startswith("flaky"):
            with Handler.flaky_lock:
                drop = name not in Handler.flaky_dropped
                Handler.flaky_dropped.add(name)
            if drop:
                self.body()
                LOG.add("hook-post-dropped", {"hook": name})
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        payload = self.json_body()
        LOG.add(
            "hook-post",
            {"hook": name, "payload": payload, "signature": _check_signature(self.headers.get("X-Signature"), payload)},
        )
        self.reply(500 if name == "fail" else 200, {"received": True})


class SMTPHandler(socketserver.StreamRequestHandler):
    def send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.send("220 localhost fake ESMTP")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode().strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.send("250-localhost")
                self.send("250 8BITMIME")
            elif verb == "HELO":
                self.send("250 localhost")
            elif verb == "MAIL":
                sender, rcpts = cmd.split(":", 1)[1].strip(), []
                self.send("250 OK")
            elif verb == "RCPT":
                rcpts.append(cmd.split(":", 1)[1].strip())
                self.send("250 OK")
            elif verb == "DATA":
                self.send("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    data = self.rfile.readline()
                    if data in (b".\r\n", b".\n", b""):
                        break
                    lines.append(data[1:] if data.startswith(b"..") else data)
                msg = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                LOG.add(
                    "smtp",
                    {
                        "from": sender,
                        "rcpt": rcpts,
                        "subject": msg["Subject"],
                        "to": msg["To"],
                        "body": msg.get_content().strip(),
                    },
                )
                self.send("250 queued")
            elif verb in ("RSET", "NOOP"):
                self.send("250 OK")
            elif verb == "QUIT":
                self.send("221 bye")
                return
            else:
                self.send("502 not implemented")


class ThreadingSMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class PortHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        pass  # accept and close: enough for a socket probe


def _serve(server) -> int:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def start() -> dict:
    """Start every server; return their ports."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    http.daemon_threads = True
    smtp = ThreadingSMTPServer(("127.0.0.1", 0), SMTPHandler)
    broker = ThreadingSMTPServer(("127.0.0.1", 0), PortHandler)
    return {"http": _serve(http), "smtp": _serve(smtp), "broker": _serve(broker)}
