"""Which reverse proxies the web believes: `X-Forwarded-For`, `-Proto`, `-Host`, `-Port` and `-Prefix` are honoured
only on a connection from one of the configured proxy addresses (GOVFLOW_TRUSTED_PROXIES: addresses or networks,
comma-separated), and only for as many hops as there are proxies (GOVFLOW_PROXY_HOPS, 1 by default). From anywhere
else they are removed before the application sees them, so nobody can claim HTTPS (and get a Secure cookie and HSTS
on plain HTTP) or another client address (and escape the sign-in limit) by sending a header.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
             "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX")
MAX_HOPS = 5


def networks(text: str) -> tuple[Network, ...]:
    """GOVFLOW_TRUSTED_PROXIES read: `127.0.0.1, 10.0.0.0/8, ::1` (empty: no proxy is trusted)."""
    found = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"GOVFLOW_TRUSTED_PROXIES: '{item}' is not an IP address or network "
                             "(for example 127.0.0.1 or 10.0.0.0/8)") from None
    return tuple(found)


def hops(text: str | int | None) -> int:
    """GOVFLOW_PROXY_HOPS read: how many proxies stand in front of the web, 1 to MAX_HOPS."""
    try:
        count = int(text if text not in (None, "") else 1)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= MAX_HOPS:
        raise ValueError(f"GOVFLOW_PROXY_HOPS: '{text}' is not a number of proxies from 1 to {MAX_HOPS}")
    return count


class TrustedProxies:
    """WSGI middleware: ProxyFix for connections from a trusted proxy, forwarded headers removed for any other."""

    def __init__(self, app, trusted: Iterable[Network], hop_count: int = 1):
        self.app = app
        self.trusted = tuple(trusted)
        self.fixed = ProxyFix(app, x_for=hop_count, x_proto=hop_count, x_host=hop_count, x_port=hop_count,
                              x_prefix=hop_count)

    def is_trusted(self, address: str | None) -> bool:
        try:
            peer = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        mapped = getattr(peer, "ipv4_mapped", None)  # ::ffff:10.0.0.1 on a dual-stack socket
        return any(peer in network or (mapped is not None and mapped in network) for network in self.trusted)

    def __call__(self, environ, start_response):
        if self.trusted and self.is_trusted(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        for key in FORWARDED:
            environ.pop(key, None)
        return self.app(environ, start_response)
