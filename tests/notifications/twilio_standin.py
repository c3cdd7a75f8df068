"""A local stand-in for Twilio's Messages API on 127.0.0.1, for tests that need the real HTTP path.

It answers like Twilio (201 with the message's JSON for a send, the account's messages newest first for a
list) and records every message it created, so a test can count what a patient would have received.
`delay` holds each answer back after the message is created: a worker killed then has sent a message it
never learns about. `abort_next` drops that many connections after creating the message, without an answer.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "test-auth-token"
PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


class TwilioStandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay: float = 0.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.abort_next = 0
        self.messages: list[dict] = []  # every message created, in order
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address):
        pass  # a client killed mid-answer (the point of some tests) is not an error of the stand-in

    def posts(self) -> int:
        with self.lock:
            return sum(1 for method, _ in self.requests if method == "POST")


class _Handler(BaseHTTPRequestHandler):
    server: TwilioStandIn

    def log_message(self, *args):  # quiet
        pass

    def _authorised(self) -> bool:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
        return False

    def _answer(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        with self.server.lock:
            self.server.requests.append(("POST", self.path))
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        if urlparse(self.path).path != PATH or not self._authorised():
            return
        message = {
            "sid": f"SM{uuid.uuid4().hex}", "account_sid": ACCOUNT_SID, "api_version": "2010-04-01",
            "to": form["To"][0], "from": form["From"][0], "body": form["Body"][0], "direction": "outbound-api",
            "status": "queued", "date_created": format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True),
            "date_sent": None, "error_code": None, "error_message": None, "num_segments": "1",
        }
        with self.server.lock:
            self.server.messages.append(message)
            abort = self.server.abort_next > 0
            self.server.abort_next -= abort
        if abort:
            self.close_connection = True
            self.connection.close()  # the message exists; the client sees "connection aborted"
            return
        if self.server.delay:
            time.sleep(self.server.delay)
        self._answer(201, message)

    def do_GET(self):
        with self.server.lock:
            self.server.requests.append(("GET", self.path))
        url = urlparse(self.path)
        if url.path != PATH or not self._authorised():
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.server.lock:
            found = [m for m in self.server.messages
                     if m["to"] == query.get("To", m["to"]) and m["from"] == query.get("From", m["from"])]
        size = int(query.get("PageSize", 50))
        self._answer(200, {"messages": list(reversed(found))[:size], "page": 0, "page_size": size,
                           "next_page_uri": None, "uri": self.path})
