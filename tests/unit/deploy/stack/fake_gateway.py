"""A stand-in for the gateway in the launcher's tests: `python fake_gateway.py services.gateway
PORT READY_FILE` (its command line names the gateway module, so the launcher takes it for the
gateway). /healthz answers 200; /readyz 200 once READY_FILE exists, else 503 (Triton down)."""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def handler(ready_file: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            alive = self.path == "/healthz"
            ready = self.path == "/readyz" and ready_file.exists()
            self.send_response(200 if alive or ready else 503)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


if __name__ == "__main__":
    port, ready_file = int(sys.argv[2]), Path(sys.argv[3])
    ThreadingHTTPServer(("127.0.0.1", port), handler(ready_file)).serve_forever()
