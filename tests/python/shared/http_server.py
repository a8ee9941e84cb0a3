"""A local HTTP server for the http-requests scenarios: JSON, redirects, slow answers, errors,
a streamed body and an echo of what was sent. Runs in a daemon thread on 127.0.0.1."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/json":
            query = {k: v for k, v in parse_qs(url.query).items()}
            body = json.dumps({"ok": True, "query": query}).encode()
            self.reply(200, body, [("Content-Type", "application/json")])
        elif url.path == "/redirect":
            self.reply(302, b"moved", [("Location", "/json")])
        elif url.path == "/slow":
            time.sleep(0.2)
            self.reply(200, b"slow")
        elif url.path == "/hang":
            time.sleep(1.5)
            self.reply(200, b"late")
        elif url.path == "/error":
            self.reply(500, b"boom")
        elif url.path == "/missing":
            self.reply(404, b"nothing here")
        elif url.path == "/bytes":
            self.reply(200, bytes(range(256)) * 40, [("Content-Type", "application/octet-stream")])
        elif url.path == "/not-json":
            self.reply(200, b"<html>", [("Content-Type", "text/html")])
        else:
            self.reply(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        answer = {
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "body": body.decode("utf-8", "replace"),
        }
        if (self.headers.get("Content-Type") or "").startswith("application/json"):
            answer["json"] = json.loads(body)
        if self.path.startswith("/redirect"):
            self.reply(303, b"", [("Location", "/json")])
            return
        self.reply(200, json.dumps(answer).encode(), [("Content-Type", "application/json")])

    do_PUT = do_POST
    do_PATCH = do_POST
    do_DELETE = do_POST


class Server(ThreadingHTTPServer):
    # Twenty clients connect at once in the concurrency scenario.
    request_queue_size = 64


def start():
    """The base URL of a running server, and one of a port where nothing listens."""
    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    refused = f"http://127.0.0.1:{probe.getsockname()[1]}"
    probe.close()
    return f"http://127.0.0.1:{server.server_address[1]}", refused
