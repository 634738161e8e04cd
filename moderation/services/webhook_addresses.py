"""Where a webhook may go: to the public internet only, never into our own network (SSRF).

An admin types an endpoint's address; the sender then POSTs to it from inside our network, where
a private address reaches what the internet must not: the database, the broker, a cloud's metadata
service (169.254.169.254 hands out credentials), a page bound to the loopback. So an address is
refused when its host is, or resolves to, anything but a global unicast address: loopback
(127/8, ::1), private ranges (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
fe80::/10), "this host" (0.0.0.0, ::), shared, reserved and multicast space, and the IPv6 forms
that only wrap such an IPv4 address (::ffff:127.0.0.1, 6to4, NAT64). One private address among a
name's answers is enough to refuse it: which one a connection gets is the resolver's choice.

The one rule, asked twice:

1. When an admin saves an endpoint (``ensure_public_address``, from ``validate_endpoint_url``):
   a field error on ``url``, nothing saved.
2. At each send (``resolve_for_sending``, from ``webhooks.post``): the host is resolved once, and
   the sender connects to the very addresses checked (``connect_to``), never resolving again. A
   name that was public when saved and resolves to 10.0.0.5 now (DNS rebinding, or a record
   changed since) gets nothing: the attempt fails like any other, the refusal as its error.

``WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` (default: ``DEBUG``) lets every address through: the demo's
receiver is a page of its own server on localhost, and the tests' and benchmarks' receivers
listen on the loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (family, type, proto, canonname, sockaddr), as socket.getaddrinfo gives them.
AddressInfo = tuple[Any, ...]

# IPv6 prefixes a NAT64 gateway translates to the IPv4 address in their last 32 bits (RFC 6052,
# RFC 8215): a DNS64 resolver answers them for IPv4-only names, public ones included.
NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))

# What a refused send records as its error (the delivery's page shows it; the trail's language).
REFUSED_PRIVATE = "refused: the address resolves to a private network"
REFUSED_UNRESOLVED = "the host name does not resolve"


class AddressRefused(Exception):
    """The host is, or resolves to, an address nothing is sent to; or it does not resolve."""

    def __init__(self, reason: str, *, private: bool) -> None:
        super().__init__(reason)
        self.private = private


def private_addresses_allowed() -> bool:
    """The demo, the tests and the benchmarks, whose receivers listen on the loopback."""
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", settings.DEBUG))


def _wrapped_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address only wraps (mapped, NAT64, 6to4): a connection reaches that one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if any(address in prefix for prefix in NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def is_public(address: IPAddress) -> bool:
    """A global unicast address (judged by what it wraps, for an IPv6 form of an IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = _wrapped_ipv4(address)
        if wrapped is not None:
            return is_public(wrapped)
    return address.is_global and not (address.is_multicast or address.is_reserved)


def resolve_for_sending(host: str, port: int) -> list[AddressInfo]:
    """The host's addresses (a literal address is its own), to connect to as they are.

    Raises ``AddressRefused`` when the name does not resolve, or when any address is not public
    and ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is off.
    """
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # socket.gaierror; UnicodeError: a label IDNA cannot encode
        raise AddressRefused(f"{REFUSED_UNRESOLVED} ({error})", private=False) from None
    if not found:
        raise AddressRefused(REFUSED_UNRESOLVED, private=False)
    if not private_addresses_allowed():
        for *_rest, sockaddr in found:
            if not is_public(ipaddress.ip_address(sockaddr[0])):
                raise AddressRefused(REFUSED_PRIVATE, private=True)
    return found


def connect_to(found: list[AddressInfo], timeout: float | None) -> socket.socket:
    """A connection to the first of ``found`` that answers, in the resolver's order (as
    ``socket.create_connection`` tries them), without looking the name up again."""
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in found:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as error:
            sock.close()
            last_error = error
            continue
        return sock
    raise last_error or OSError("no address to connect to")


def default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def ensure_public_address(url: str) -> None:
    """A field error on ``url`` when its host is, or resolves to, a private address (or does not resolve).

    ``url`` has passed ``validate_endpoint_url``'s other checks: a full http(s) address.
    """
    if private_addresses_allowed():
        return
    parts = urlsplit(url)
    try:
        resolve_for_sending(parts.hostname or "", parts.port or default_port(parts.scheme))
    except AddressRefused as refusal:
        message = (
            _("This address leads into a private network: events are only sent to public internet addresses.")
            if refusal.private
            else _("This address's host name does not resolve: check it, or save it once its DNS record exists.")
        )
        raise ValidationError({"url": message}) from None
