"""A stub of agentdeck's `/api/v1/prompts/{name}/resolve` on loopback, for the SDK's cache
tests: what it serves, its errors and its delay are set by the test; it counts requests."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

PREFIX = "/api/v1/prompts/"


def version(name: str, number: int, text: str = "Hello {{ who }}") -> dict[str, Any]:
    """A Version object of a chat prompt whose user message is `text`."""
    return {
        "name": name,
        "project": "prj_1",
        "version": number,
        "type": "chat",
        "content": {
            "type": "chat",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": text},
            ],
            "variables": {"type": "object", "properties": {"who": {"type": "string"}},
                          "required": ["who"]},
            "params": {"temperature": 0.2},
            "model": "chat",
            "tools": None,
            "metadata": {},
            "template": None,
        },
        "content_hash": f"hash-{number}",
        "author": "usr_1",
        "created_at": "2025-01-01T00:00:00Z",
        "message": "",
        "archived": False,
    }  # fmt: skip


class PromptStub(ThreadingHTTPServer):
    """Serves `versions[name]` at `/api/v1/prompts/{name}/resolve`; `status` overrides."""

    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.versions: dict[str, dict[str, Any]] = {}
        self.status: int | None = None
        self.delay_s = 0.0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the stub."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> PromptStub:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket: connections are refused from now on (idempotent)."""
        if self._thread is not None:
            self.shutdown()
            self.server_close()
            self._thread = None

    def count(self, name: str | None = None) -> int:
        """How many resolve requests arrived (for `name`)."""
        with self.lock:
            return sum(1 for path, _ in self.requests if name is None or path == name)


class _Handler(BaseHTTPRequestHandler):
    server: PromptStub

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        name = parts.path.removeprefix(PREFIX).removesuffix("/resolve")
        with self.server.lock:
            self.server.requests.append((name, query))
        time.sleep(self.server.delay_s)
        status = self.server.status
        found = self.server.versions.get(name)
        if status is None and found is None:
            status = 404
        if status is not None:
            error = {"message": f"stub says {status}", "type": "x", "code": f"s{status}",
                     "param": "name" if status == 404 else None}  # fmt: skip
            self._send(status, {"error": error})
        else:
            self._send(200, found)

    def _send(self, status: int, body: Any) -> None:
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        """Quiet."""
