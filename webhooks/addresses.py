"""Refusing webhook URLs that reach inside the network (SSRF): checked after DNS resolution, at registration
and again before every delivery (a name may be re-pointed after it was registered)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class RefusedAddress(ValueError):
    pass


def _allowed(address: ipaddress._BaseAddress) -> bool:
    if str(address) in settings.WEBHOOKS["ALLOWED_PRIVATE_ADDRESSES"]:
        return True
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in settings.WEBHOOKS["ALLOWED_SCHEMES"]:
        raise RefusedAddress(f"Use {' or '.join(settings.WEBHOOKS['ALLOWED_SCHEMES'])}.")
    if not parts.hostname:
        raise RefusedAddress("The URL names no host.")
    if parts.username or parts.password:
        raise RefusedAddress("The URL may not carry credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, ValueError):
        raise RefusedAddress("The host name does not resolve.") from None
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not _allowed(address):
            raise RefusedAddress("The URL resolves to a private, loopback or link-local address.")
