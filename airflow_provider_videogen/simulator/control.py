"""Who may use the ``/_sim`` control routes: the key holder, in JSON, through a loopback name.

The simulator runs on laptops next to a web browser. Any page the user opens can send a
``text/plain`` POST or a plain GET to ``http://127.0.0.1:<port>`` without a CORS preflight, and
a page whose own DNS name is re-bound to 127.0.0.1 can also read the answers and send any header.
Without these checks such a page could replace the simulator's key (``POST /_sim/config``) or
read every prompt it received (``GET /_sim/stats``). So a control request needs:

* ``Authorization: Bearer <key>`` with one of the configured ``api_keys``, as the API does
  (a browser cannot add that header cross-origin without a preflight the simulator never grants);
* for a POST with a body, ``Content-Type: application/json`` (415 otherwise: a form or
  ``text/plain`` body is what a page can send without a preflight);
* a ``Host`` that is an IP literal or ``localhost``: a re-bound page sends its own DNS name,
  and the default key ``sim-key`` is public, so the key alone does not stop it.

``GET /_sim/health`` stays open: start-up scripts wait on it before they know the key, and it
answers only ``{"status": "ok"}``.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request

    from airflow_provider_videogen.simulator.config import SimulatorConfig

#: Host names a DNS-rebinding page cannot send (an IP literal is no DNS name to re-bind).
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header: ``[::1]:8090`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def host_allowed(host_header: str) -> bool:
    """Whether a ``Host`` names this machine without a DNS name (see the module docstring)."""
    name = host_name(host_header)
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def key_matches(authorization: str, config: SimulatorConfig) -> bool:
    """Whether ``Authorization`` carries one of the configured keys (not a special test key)."""
    scheme, _, token = authorization.partition(" ")
    key = token.strip().encode()
    if scheme.lower() != "bearer" or not key:
        return False
    return any(hmac.compare_digest(key, known.encode()) for known in config.api_keys)


def refusal(request: Request, config: SimulatorConfig, *, body: bytes | None) -> tuple[int, str, str] | None:
    """``(status, code, message)`` refusing a control request, or ``None`` to serve it.

    :param body: the POST body (``None`` for a GET): an empty body needs no content type.
    """
    if not host_allowed(request.headers.get("host", "")):
        return (
            403,
            "host_not_allowed",
            "The /_sim routes answer only to a loopback address or 'localhost' in the Host header",
        )
    if not key_matches(request.headers.get("authorization", ""), config):
        return (
            401,
            "invalid_api_key",
            "The /_sim control routes need the simulator's key: send 'Authorization: Bearer <your API key>'",
        )
    if body and request.headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
        return 415, "unsupported_media_type", "Send the settings as a JSON object with Content-Type: application/json"
    return None
