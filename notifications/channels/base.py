"""The interface every channel backend implements, and the three ways a send can fail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    to: str
    text: str
    subject: str = ""
    html: str = ""
    # The reminder's external id: lets a provider or a test tie a send back to its row. Carries no patient data.
    reference: str = ""


@dataclass(frozen=True)
class SendResult:
    message_id: str


class SendError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TransientSendError(SendError):
    """The provider did not take the message and may next time (rate limit, connection refused): safe to retry."""


class PermanentSendError(SendError):
    """The provider refused the message for good (invalid or unsubscribed number, bad credentials)."""


class UnknownOutcomeError(SendError):
    """The request may have reached the provider but no clear answer came back: it may have been delivered.
    It is never simply sent again: a backend with `find_sent` is asked first, any other gets the row failed."""


class Backend(Protocol):
    def send(self, message: Message) -> SendResult: ...

    # Optional: a backend that can tell what already went out for this message defines
    # `find_sent(message, *, since) -> list[SendResult]` (sends made at or after `since`, oldest first).
    # When an attempt's outcome is unknown (the worker died mid-send, the connection broke after the request
    # went out), only such a backend is tried again, and it is asked before anything is resent.
