"""The moment a create may reach the gateway: the in-flight marker's "sending" phase.

The operators write their in-flight marker as ``prepared`` once the request is built, and as
``sending`` from here, right before the request's first byte: a worker killed in between (the
connection was still being opened) provably sent nothing, so its retry may submit. Everything
this module cannot recognise counts as sending.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_videogen.hooks.addresses import GuardedTransport

if TYPE_CHECKING:
    from collections.abc import Callable

#: httpcore trace events that precede every byte of an HTTP request: opening the TCP (or unix)
#: connection and its TLS handshake. A gateway cannot create anything from them. Any other
#: event (request headers, a proxy's CONNECT, HTTP/2 set-up, a connect retry, an event a later
#: httpcore adds) may be the first byte of the create: the watch fires on it, before it happens.
PRE_REQUEST_EVENTS = frozenset(
    f"connection.{step}.{stage}"
    for step in ("connect_tcp", "connect_unix_socket", "start_tls")
    for stage in ("started", "complete", "failed")
)


def wire_trace(on_wire: Callable[[], None]) -> Callable[[str, dict[str, Any]], None]:
    """An httpcore ``trace`` extension that calls ``on_wire`` once, before the request's first byte.

    httpcore calls the trace with ``<step>.started`` before each step, synchronously, so
    whatever ``on_wire`` writes is written before the request headers leave. If ``on_wire``
    raises, the request is abandoned before anything of it was sent.
    """
    fired: list[bool] = []

    def trace(event: str, info: dict[str, Any]) -> None:
        if not fired and event not in PRE_REQUEST_EVENTS:
            fired.append(True)
            on_wire()

    return trace


def traces_connections(client: httpx.Client, url: httpx.URL) -> bool:
    """True when the transport for ``url`` is httpx's own (httpcore), which reports its steps to ``trace``.

    Any other transport (a mock, WSGI, a custom one) may send without telling: the caller must
    then treat the request as on the wire before it is sent.
    """
    try:
        transport = client._transport_for_url(url)
    except AttributeError:  # a future httpx without this (private) lookup: assume nothing
        return False
    return type(transport) in (httpx.HTTPTransport, GuardedTransport)  # exact: a subclass may send its own way
