"""Ways out: one small interface (`send(message) -> SendResult`) and its backends for email and SMS."""

from .base import Message, PermanentSendError, SendError, SendResult, TransientSendError, UnknownOutcomeError
from .email import EmailChannel
from .sms import get_sms_backend

__all__ = [
    "EmailChannel",
    "Message",
    "PermanentSendError",
    "SendError",
    "SendResult",
    "TransientSendError",
    "UnknownOutcomeError",
    "get_sms_backend",
]
