"""The ``videogen`` connection form, written once.

Airflow >= 3.2 builds the form from the provider info (``conn-fields`` and
``ui-field-behaviour``, below in that shape); older versions call the hook's
``get_ui_field_behaviour`` / ``get_connection_form_widgets``, which the hook builds from the same
two dicts. Kept free of Airflow imports because ``get_provider_info()`` reads it while Airflow
is still discovering providers; importing the hook there would be circular.
"""

from __future__ import annotations

from typing import Any

DEFAULT_BASE_URL = "https://api.evolink.ai"

#: How the standard fields look (provider-info shape: hyphenated keys).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema", "port"],
    "relabeling": {"host": "Base URL", "password": "API Key"},
    "placeholders": {"host": DEFAULT_BASE_URL, "password": "your API key", "extra": '{"timeout": 30}'},
}


def _field(label: str, description: str, kind: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"]}}


#: Connection extras a user may set (UI form, URI query or JSON ``extra``), with their meaning
#: (provider-info ``conn-fields`` shape).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": _field("Request timeout (s)", "Read/write timeout of one HTTP request.", "number"),
    "connect_timeout": _field("Connect timeout (s)", "Time allowed to open a connection.", "number"),
    "max_retries": _field(
        "Max retries",
        "Retries of a status query on 429, 5xx and network errors. Creates are never retried once sent.",
        "integer",
    ),
    "retry_backoff": _field(
        "Retry backoff (s)",
        "First backoff step; doubles each retry, with jitter, capped by 'retry_backoff_max'.",
        "number",
    ),
    "retry_backoff_max": _field("Max retry backoff (s)", "Cap of one backoff step.", "number"),
    "cancel_path": _field(
        "Cancel endpoint",
        "Optional path, e.g. /v1/tasks/{task_id}/cancel, POSTed when a user kills a deferred task. "
        "Leave empty: no cancel endpoint is documented.",
        "string",
    ),
    "pool_size": _field(
        "Pool size",
        "HTTP connections shared by all triggers of this connection in one triggerer (default 10).",
        "integer",
    ),
    "verify_ssl": _field("Verify TLS", "Verify the gateway's TLS certificate.", "boolean"),
}


def hook_field_behaviour() -> dict[str, Any]:
    """:data:`UI_FIELD_BEHAVIOUR` in the shape ``BaseHook.get_ui_field_behaviour`` returns (underscored keys)."""
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}
