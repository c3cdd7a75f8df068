"""A real HTTP receiver on 127.0.0.1 that verifies every message with standardwebhooks' own verifier."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from pathway.stages import Role
from tests.factories import PatientFactory, actor
from tests.notifications.conftest import clinic, front_desk  # noqa: F401 (the same clinic and front desk)


class Receiver:
    def __init__(self):
        self.secret = None
        self.answers: list[int] = []  # statuses to answer first, then 204
        self.always: int | None = None
        self.received: list[dict] = []  # verified bodies of the messages answered 2xx
        self.ids: list[str] = []
        self.hits = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.hits += 1
                status = receiver.always or (receiver.answers.pop(0) if receiver.answers else 204)
                if status < 300:
                    try:
                        payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                    except Exception:
                        status = 401
                    else:
                        receiver.received.append(payload)
                        receiver.ids.append(self.headers["webhook-id"])
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        return Handler

    def types(self) -> list[str]:
        return [body["type"] for body in self.received]


@pytest.fixture
def receiver(settings):
    # Only the tests that talk to this receiver may reach a loopback address (private ones are refused otherwise).
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_PRIVATE_ADDRESSES": ["127.0.0.1"]}
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def coordinator(clinic):  # noqa: F811 (the imported fixture)
    return actor(clinic, Role.COORDINATOR)


@pytest.fixture
def patient(clinic):  # noqa: F811 (the imported fixture)
    return PatientFactory(clinic=clinic, phone="+15557654321", sms_consent=True, preferred_channel="sms")


@pytest.fixture(autouse=True)
def quiet_sms(settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "SMS_BACKEND": "in-memory"}
