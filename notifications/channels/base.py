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
    """The provider did not take the message and may next time (rate limit, outage, connection refused)."""


class PermanentSendError(SendError):
    """The provider refused the message for good (invalid or unsubscribed number, bad credentials)."""


class UnknownOutcomeError(SendError):
    """The request went out but no answer came back: it may have been delivered, so it is never retried."""


class Backend(Protocol):
    def send(self, message: Message) -> SendResult: ...

    # Optional: a backend that can tell whether a message with this reference already went out defines
    # `was_sent(message) -> SendResult | None`; after a worker died mid-send, only such a backend is tried again.
