"""Email through Django's configured backend (SMTP in production, console or file in the demo, locmem in tests)."""

from __future__ import annotations

import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from .base import Message, PermanentSendError, SendResult, TransientSendError


class EmailChannel:
    def send(self, message: Message) -> SendResult:
        message_id = make_msgid(domain="drg-pathway.local")
        email = EmailMultiAlternatives(
            subject=message.subject, body=message.text, from_email=settings.DEFAULT_FROM_EMAIL, to=[message.to],
            headers={"Message-ID": message_id},
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused:
            raise PermanentSendError("the mail server refused the recipient address") from None
        except (TimeoutError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, ConnectionError) as error:
            raise TransientSendError(f"mail server unavailable ({type(error).__name__})") from None
        except smtplib.SMTPResponseException as error:
            if 400 <= error.smtp_code < 500:
                raise TransientSendError(f"mail server said {error.smtp_code} (temporary)") from None
            raise PermanentSendError(f"mail server said {error.smtp_code}") from None
        return SendResult(message_id)
