"""Who is on the other end of a request: the address rate limits and login throttles count by.

The TCP peer, unless it is a proxy the operator named in `HAZARD_TRUSTED_PROXIES`; then the
X-Forwarded-For chain is read from the right, skipping trusted proxies, and the first address that
is not one is the client. With no trusted proxies (the default) the header is ignored, so a client
cannot pick a fresh address per request by writing one. uvicorn's own X-Forwarded-For handling is
switched off (`proxy_headers=False` in app/cli/run.py), so this is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from fastapi import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(text: str, networks: tuple[Network, ...]) -> bool:
    address = _address(text)
    return address is not None and any(address in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The client's address from the TCP peer and the X-Forwarded-For header (pure, for tests)."""
    networks = _networks(trusted)
    if not networks or not forwarded_for or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",")]
    for hop in reversed(hops):
        if _address(hop) is None:
            return peer  # a malformed chain: believe only what the socket says
        if not _trusted(hop, networks):
            return hop
    return hops[0]


def client_ip(request: Request) -> str:
    peer = request.client.host if request.client else "unknown"
    trusted = tuple(request.app.state.ctx.settings.trusted_proxies)
    return client_address(peer, request.headers.get("x-forwarded-for"), trusted)
