"""How a string reads once Airflow's log pipeline has printed it.

Airflow's structlog setup masks anything that looks like the start of a JWT: every run of
``eyJ`` followed by base64url characters becomes ``eyJ***`` (``redact_jwt`` in
``airflow.sdk._shared.logging.structlog``). A remote task id is random text, so about one id in
ten thousand contains ``eyJ`` and is printed masked from there on. A test that looks for an id in
captured logs compares against :func:`as_logged` of it, or it fails on that one id.
"""

from __future__ import annotations

import re

# The same pattern as Airflow's JWT_PATTERN; copied because that module is private.
_JWT_LIKE = re.compile(r"eyJ[\.A-Za-z0-9-_]*")


def as_logged(text: str) -> str:
    """``text`` as Airflow's task and triggerer logs print it (JWT-like runs masked)."""
    return _JWT_LIKE.sub("eyJ***", text)
