"""What the demo's console backends print: enough to see that a message went out, no patient data.

The console SMS backend (channels/sms.py) and `MaskingConsoleEmailBackend` (EMAIL_BACKEND in local settings)
write to a terminal whose scrollback is kept and copied around; a number, an address, an MRN or a live diary
link there is a disclosure. Numbers keep their last two digits and addresses their first letter and domain,
so a developer can still tell two patients apart.
"""

from __future__ import annotations

import re

from django.core.mail.backends.console import EmailBackend

from config.log_redaction import redact

# The digest names a patient "J.D. (MRN 12345)" (notifications.selectors.patient_label).
_MRN = re.compile(r"\(MRN [^)]*\)")


def mask_phone(number: str) -> str:
    return f"{number[:1]}{'•' * max(len(number) - 3, 0)}{number[-2:]}" if number else number


def mask_email(address: str) -> str:
    local, at, domain = address.partition("@")
    return f"{local[:1]}•••{at}{domain}" if at else "•••"


def mask_text(text: str) -> str:
    """A message's text as a console may show it: links without their token, no numbers, addresses or MRNs."""
    return _MRN.sub("(MRN •••)", redact(text))


class MaskingConsoleEmailBackend(EmailBackend):
    """Django's console backend, printing masked recipients and the masked text part (not the HTML one)."""

    def write_message(self, message) -> None:
        recipients = ", ".join(mask_email(address) for address in message.recipients())
        lines = [f"E-mail to {recipients}", f"Subject: {mask_text(str(message.subject))}", "", mask_text(message.body)]
        alternatives = [mimetype for _, mimetype in getattr(message, "alternatives", [])]
        if alternatives:
            lines.append(f"[{', '.join(alternatives)} alternative not shown]")
        self.stream.write("\n".join(lines) + "\n" + "-" * 79 + "\n")
