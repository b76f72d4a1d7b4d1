"""Which URLs a webhook may call: http(s) only, and never an address inside our own network.

Without this rule a user could make the server POST to its own internals (the database, Redis, a cloud
metadata endpoint at 169.254.169.254). The host is resolved and every address it resolves to must be
public; STOCKHUB_WEBHOOK_ALLOWED_NETWORKS lists the exceptions (the tests allow 127.0.0.1/32). The check is
repeated at each delivery, and the request is sent to the address that passed it, so a DNS answer that
changes between the check and the connection cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from notifications.errors import WebhookError, WebhookErrorCode

DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """Where a webhook's request goes: the checked address to connect to and what to tell the server."""

    scheme: str
    host: str  # the name in the URL: the Host header and, for https, the certificate's name
    address: str  # the IP address that passed the check
    port: int
    path: str  # path and query string
    host_header: str


def parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL; WebhookError(INVALID_URL) otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise WebhookError(f"not a valid URL: {error}", code=WebhookErrorCode.INVALID_URL) from error
    if parts.scheme not in DEFAULT_PORTS:
        raise WebhookError(
            f"the URL must start with http:// or https://, not {parts.scheme or 'nothing'}",
            code=WebhookErrorCode.INVALID_URL,
        )
    if not parts.hostname:
        raise WebhookError("the URL has no host name", code=WebhookErrorCode.INVALID_URL)
    if parts.username or parts.password:
        # the secret signs requests; credentials in the URL would be shown in admin and logs
        raise WebhookError(
            "the URL must not contain a user name or password", code=WebhookErrorCode.INVALID_URL
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme], path


def resolve_target(url: str) -> Target:
    """The checked place to send `url`'s request to; WebhookError when the URL is not http(s), its host
    does not resolve, or it resolves to any address that is not public and not explicitly allowed."""
    scheme, host, port, path = parse_url(url)
    addresses = _resolve(host, port)
    refused = [a for a in addresses if not is_allowed_address(a)]
    if refused:
        raise WebhookError(
            f"{host} resolves to {refused[0]}, a loopback, private, link-local, multicast or reserved address; "
            "webhooks may only call public addresses",
            code=WebhookErrorCode.ADDRESS_NOT_ALLOWED,
        )
    explicit_port = urlsplit(url.strip()).port
    shown_host = f"[{host}]" if ":" in host else host
    return Target(
        scheme=scheme,
        host=host,
        address=str(addresses[0]),
        port=port,
        path=path,
        host_header=f"{shown_host}:{explicit_port}" if explicit_port else shown_host,
    )


def is_allowed_address(address: IPAddress) -> bool:
    """A public unicast address, or one inside STOCKHUB_WEBHOOK_ALLOWED_NETWORKS."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in _allowed_networks()):
        return True
    return address.is_global and not address.is_multicast


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.STOCKHUB_WEBHOOK_ALLOWED_NETWORKS]


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise WebhookError(
            f"the host {host} does not resolve: {error}", code=WebhookErrorCode.HOST_NOT_FOUND
        ) from error
    # "fe80::1%eth0": the zone is not part of the address
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    return list(dict.fromkeys(addresses))
