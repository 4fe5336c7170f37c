"""Which hosts a worker may fetch from: one address check for every download and for callback URLs.

A video link, a redirect or a templated URL chosen by whoever triggers a DAG must not make the
worker fetch its own loopback services, the cloud metadata endpoint (``169.254.169.254``) or
hosts on the private network, and hand what it read to S3 or, as a remix frame, to the
gateway. So, by default, every download refuses hosts that are or resolve to loopback,
link-local, private (including carrier-grade NAT and other non-global ranges), multicast or
unspecified addresses.

Where it is enforced, and why there:

* **At connect time** (:class:`GuardedTransport`): the name is resolved once, every resolved
  address is checked, and the socket is opened to the checked address itself. The address
  that was checked is the address connected to, so DNS rebinding (a name answering a public
  address to the check and ``127.0.0.1`` to the connect) cannot slip through. It runs for
  every connection, so for every redirect hop that opens one.
* **Before each request** (:func:`address_checking_hook`, an httpx ``request`` event hook,
  which httpx runs for every redirect hop): the same check with the same error, so the
  refusal names the URL (without its query) even when an HTTP proxy makes the connect-time
  check moot.

Hosts spelled in the unusual forms that ``inet_aton`` accepts (``2130706433``, ``127.1``,
``0x7f000001``, ``0177.0.0.1``, ``0``) are parsed as the addresses they are, not as names.

Residual risk (also in SECURITY.md): with an HTTP(S) proxy from the environment, the proxy
opens the connection, so only the pre-request check applies (a rebinding name can pass it);
the proxy's own rules then decide. A host named in a connection as the gateway is trusted
(an admin chose it). ``allow_private_hosts`` turns the check off, for self-hosted storage.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.request import getproxies

import httpcore
import httpx

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.hooks.redaction import redact_url

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Names that mean "this machine" or "this network" without asking DNS.
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")
#: What ``inet_aton`` accepts: decimal, octal (leading 0) and hex parts, one to four of them.
_INET_ATON = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]*|[0-9]+)){0,3}")

OPT_IN_HINT = (
    "pass allow_private_hosts=True (operator or extract_frame argument) or set the videogen "
    'connection extra {"allow_private_hosts": true} to fetch from such hosts (self-hosted storage, tests)'
)


class BlockedAddressError(VideoGenError):
    """A download was refused because its host is, or resolves to, a non-public address.

    Raised before any byte is sent to that host; retrying does not help.
    """

    def __init__(self, message: str, *, shown: str = "") -> None:
        super().__init__(message)
        #: How the message names the target (so the transport can replace ``host:port`` by the URL).
        self.shown = shown


def literal_address(host: str) -> IPAddress | None:
    """The address a host *literally* is (``[::1]``, ``127.0.0.1``, ``127.1``, ``0x7f000001``...), else ``None``."""
    text = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        pass
    if _INET_ATON.fullmatch(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why a worker must not connect to ``address`` (``"loopback"``, ``"link-local"``...), ``None`` if public."""
    mapped = getattr(address, "ipv4_mapped", None) or getattr(address, "sixtofour", None)
    if mapped is not None:
        return blocked_reason(mapped)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def local_name(host: str) -> bool:
    """True for names that mean this machine or the local network, whatever DNS says (``localhost.``)."""
    name = host.strip().rstrip(".").lower()
    return name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES) or name == ""


def host_is_private(host: str) -> bool:
    """Without asking DNS: is ``host`` a local name or a literal non-public address? (for ``callback_url``)."""
    if local_name(host):
        return True
    address = literal_address(host)
    return address is not None and blocked_reason(address) is not None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal host is itself), in resolver order."""
    address = literal_address(host)
    if address is not None:
        return [address]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    return seen


@dataclass(frozen=True)
class AddressPolicy:
    """What a client may connect to.

    :param allow_private: turn the check off (self-hosted storage, tests on loopback).
    :param trusted: ``(host, port)`` pairs always allowed: the gateway an admin configured.
    """

    allow_private: bool = False
    trusted: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    def is_trusted(self, host: str, port: int) -> bool:
        return self.allow_private or (host.strip("[]").lower(), port) in self.trusted

    def checked_addresses(self, host: str, port: int, shown: str) -> list[IPAddress]:
        """The addresses to connect to; :class:`BlockedAddressError` if any of them is not public.

        Any, not all: a name answering one public and one private address could be steered to
        the private one by the resolver's order or a failed first attempt.
        """
        if local_name(host):
            raise BlockedAddressError(
                f"refusing to fetch {shown}: {host!r} names this machine; {OPT_IN_HINT}", shown=shown
            )
        try:
            addresses = resolve(host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host!r}: {exc}") from None
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                spelled = "" if str(address) == host.strip("[]") else f" resolves to {address}, which"
                raise BlockedAddressError(
                    f"refusing to fetch {shown}: the host {host!r}{spelled} is a {reason} address; {OPT_IN_HINT}",
                    shown=shown,
                )
        return addresses

    def check_url(self, url: str | httpx.URL) -> None:
        """Pre-request check of one URL (resolves its host); a no-op for trusted hosts."""
        parsed = httpx.URL(str(url)) if not isinstance(url, httpx.URL) else url
        host = parsed.host
        port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme, 0)
        if self.is_trusted(host, port):
            return
        try:
            self.checked_addresses(host, port, redact_url(parsed))
        except httpx.ConnectError:
            return  # unresolvable: the connect fails on its own (and is checked again there)


def address_checking_hook(policy: AddressPolicy) -> Callable[[httpx.Request], None]:
    """An httpx ``request`` event hook (run for every redirect hop) refusing non-public hosts."""

    def hook(request: httpx.Request) -> None:
        policy.check_url(request.url)

    return hook


class _GuardedBackend(httpcore.SyncBackend):
    """Resolve, check, then connect to the checked address (so a rebinding name cannot switch it)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if self._policy.is_trusted(host, port):
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = self._policy.checked_addresses(host, port, f"{host}:{port}")
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        if last is None:  # pragma: no cover - resolve() never returns an empty list
            raise httpcore.ConnectError(f"{host!r} resolved to no address")
        raise last


class GuardedTransport(httpx.HTTPTransport):
    """An ``HTTPTransport`` whose connections go only to addresses the policy allows (checked at connect)."""

    def __init__(self, policy: AddressPolicy, *, verify: Any = True, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except BlockedAddressError as exc:  # name the URL (without its query), not just host:port
            message = str(exc).replace(exc.shown, redact_url(request.url), 1) if exc.shown else str(exc)
            raise BlockedAddressError(message, shown=redact_url(request.url)) from None


def _proxied() -> bool:
    """True when the environment routes downloads through a proxy (then the proxy connects, not us)."""
    proxies = getproxies()
    return bool(proxies.get("http") or proxies.get("https") or proxies.get("all"))


def guarded_client_kwargs(
    policy: AddressPolicy, *, verify: Any = True, limits: httpx.Limits | None = None
) -> dict[str, Any]:
    """``httpx.Client`` keyword arguments enforcing ``policy``: the connect-time transport (unless a
    proxy from the environment must be used) and the per-hop request hook. Nothing when allowed."""
    if policy.allow_private:
        return {}
    kwargs: dict[str, Any] = {"event_hooks": {"request": [address_checking_hook(policy)]}}
    if not _proxied():
        kwargs["transport"] = GuardedTransport(policy, verify=verify, limits=limits)
    return kwargs
