"""Server-side request forgery guard for webhook and callback URLs.

A target must be https (http only when allowed) and every address its host resolves to
must be public: loopback, private, link-local (incl. the cloud metadata address
169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified ranges are refused
unless private targets are allowed — also when an IPv6 address carries one of them
(IPv4-mapped, IPv4-compatible, 6to4, NAT64). The check runs at registration **and** at
each delivery, and the delivery connects to the address that was checked (no second DNS
lookup), so a DNS answer that changes in between cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.config import WebhookSettings


class UnsafeTargetError(Exception):
    """The URL may not be called; `code` says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    host: str
    port: int
    address: str  # the checked IP to connect to


# IPv6 ranges that carry an IPv4 address in their last 32 bits, which is where a packet
# may end up (a NAT64 gateway, an SIIT translator, a stack that still honours the
# deprecated IPv4-compatible form); Python's `is_global` judges them as IPv6 and calls
# e.g. 64:ff9b::a9fe:a9fe (the metadata address through NAT64) public.
_CARRIES_IPV4 = tuple(
    ipaddress.ip_network(net)
    for net in ("64:ff9b::/96", "::ffff:0:0:0/96", "::ffff:0:0/96", "::/96")
)
# Not globally reachable, though this Python's `is_global` says so: local-use NAT64
# (RFC 8215) and the deprecated site-local range.
_NOT_GLOBAL_V6 = tuple(ipaddress.ip_network(net) for net in ("64:ff9b:1::/48", "fec0::/10"))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _CARRIES_IPV4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _is_public(embedded)
        if any(address in net for net in _NOT_GLOBAL_V6):
            return False
    return address.is_global and not address.is_multicast


def check_url_shape(url: str, settings: WebhookSettings) -> tuple[str, int]:
    """Scheme, host and port are acceptable; returns (host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeTargetError("url_invalid", "the URL must be absolute, with http(s) scheme")
    if parts.scheme == "http" and not settings.allow_http:
        raise UnsafeTargetError("url_not_https", "webhook URLs must use https")
    if parts.username or parts.password:
        raise UnsafeTargetError("url_invalid", "the URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeTargetError("url_invalid", "the URL's port is not valid") from exc
    return parts.hostname, port


async def resolve_target(url: str, settings: WebhookSettings) -> Target:
    """Check `url` and pick the address to connect to; raises UnsafeTargetError."""
    host, port = check_url_shape(url, settings)
    try:
        literal = ipaddress.ip_address(host)
        addresses = [literal]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeTargetError(
                "url_unresolvable", f"the host {host!r} does not resolve"
            ) from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeTargetError("url_unresolvable", f"the host {host!r} does not resolve")
    if not settings.allow_private_targets:
        blocked = [str(address) for address in addresses if not _is_public(address)]
        if blocked:
            raise UnsafeTargetError(
                "url_not_public",
                f"the host {host!r} resolves to a non-public address ({', '.join(blocked)})",
            )
    return Target(url=url, host=host, port=port, address=str(addresses[0]))
