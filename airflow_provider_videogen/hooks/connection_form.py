"""Fields of the ``videogen`` connection form.

Kept free of Airflow imports because ``get_provider_info()`` reads it while Airflow is still
discovering providers; importing the hook there would be circular.
"""

from __future__ import annotations

from typing import Any

DEFAULT_BASE_URL = "https://api.evolink.ai"

#: Connection extras a user may set (UI form, URI query or JSON ``extra``), with their meaning.
#: Each ``default`` is the value the hook uses when the extra is absent (the form shows it, so an
#: empty field or an unticked "Verify TLS" never misstates what happens).
EXTRA_FIELDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "timeout": (
        "Request timeout (s)",
        "Read/write timeout of one HTTP request.",
        {"type": ["number", "null"], "default": 30.0},
    ),
    "connect_timeout": (
        "Connect timeout (s)",
        "Time allowed to open a connection.",
        {"type": ["number", "null"], "default": 10.0},
    ),
    "max_retries": (
        "Max retries",
        "Retries of a status query on 429, 5xx and network errors. Creates are never retried once sent.",
        {"type": ["integer", "null"], "default": 5},
    ),
    "retry_backoff": (
        "Retry backoff (s)",
        "First backoff step; doubles each retry, with jitter, capped by 'retry_backoff_max'.",
        {"type": ["number", "null"], "default": 1.0},
    ),
    "retry_backoff_max": (
        "Max retry backoff (s)",
        "Cap of one backoff step.",
        {"type": ["number", "null"], "default": 30.0},
    ),
    "cancel_path": (
        "Cancel endpoint",
        "Optional path, e.g. /v1/tasks/{task_id}/cancel, POSTed when a user kills a deferred task. "
        "Leave empty: no cancel endpoint is documented.",
        {"type": ["string", "null"]},
    ),
    "pool_size": (
        "Pool size",
        "HTTP connections shared by all triggers of this connection in one triggerer.",
        {"type": ["integer", "null"], "default": 10},
    ),
    "verify_ssl": (
        "Verify TLS",
        "Verify the gateway's TLS certificate (on unless you turn it off).",
        {"type": ["boolean", "null"], "default": True},
    ),
}
