"""The connection extras a user may set, their types and allowed ranges: one pydantic model.

The model is the single source of truth for the extras: settings are built from it (so a bad
value fails when the connection is read, before any request, with an error naming the extra and
what is allowed) and the UI form (``conn-fields`` in the provider info) is derived from its JSON
schema, so the form and the check cannot disagree. Free of Airflow imports: the provider info
reads it while Airflow is still discovering providers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

#: Default connections per client (connection extra ``pool_size``). One triggerer shares one
#: async client per connection, so this bounds the TCP connections it opens to the gateway
#: however many triggers it runs. Small on purpose: httpcore rescans its pool on every request,
#: so CPU per poll grows with the pool (benchmarks/README.md: 10 beats 50 at 1,000 triggers).
POOL_SIZE = 10

#: Extras read from the connection that are not form fields (kept out of ``conn-fields``).
HIDDEN_EXTRAS = frozenset({"api_key", "scheme"})


class ConnectionExtras(BaseModel):
    """Every connection extra, with its range. Unknown extras are ignored (the UI adds its own)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    timeout: float = Field(
        30.0, gt=0, le=3600, title="Request timeout (s)", description="Read/write timeout of one HTTP request."
    )
    connect_timeout: float = Field(
        10.0, gt=0, le=600, title="Connect timeout (s)", description="Time allowed to open a connection."
    )
    query_timeout: float = Field(
        120.0,
        gt=0,
        le=3600,
        title="Query time limit (s)",
        description="Total time one status query may take, however slowly the gateway sends its answer.",
    )
    max_retries: int = Field(
        5,
        ge=0,
        le=20,
        title="Max retries",
        description="Retries of a status query on 429, 5xx and network errors. Creates are never retried once sent.",
    )
    retry_backoff: float = Field(
        1.0,
        ge=0,
        le=600,
        title="Retry backoff (s)",
        description="First backoff step; doubles each retry, with jitter, capped by 'retry_backoff_max'.",
    )
    retry_backoff_max: float = Field(
        30.0, ge=0, le=600, title="Max retry backoff (s)", description="Cap of one backoff step."
    )
    cancel_path: str | None = Field(
        None,
        pattern=r"^/",
        max_length=500,
        title="Cancel endpoint",
        description="Optional path, e.g. /v1/tasks/{task_id}/cancel, POSTed when a user kills a deferred task. "
        "Leave empty: no cancel endpoint is documented.",
    )
    pool_size: int = Field(
        POOL_SIZE,
        ge=1,
        le=1000,
        title="Pool size",
        description="HTTP connections shared by all triggers of this connection in one triggerer (default 10).",
    )
    verify_ssl: bool = Field(True, title="Verify TLS", description="Verify the gateway's TLS certificate.")
    allow_private_hosts: bool = Field(
        False,
        title="Allow private hosts",
        description="Let downloads reach loopback, private and link-local addresses (self-hosted storage, "
        "local test servers). Off: such addresses are refused, also after a redirect.",
    )
    api_key: str | None = None
    scheme: Literal["http", "https"] | None = None

    @field_validator("timeout", "connect_timeout", "query_timeout", "retry_backoff", "retry_backoff_max", mode="before")
    @classmethod
    def _finite_number(cls, value: Any) -> Any:
        # pydantic accepts "inf" and "nan" for floats; neither is a usable number of seconds.
        if isinstance(value, str):
            value = value.strip()
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return value  # pydantic reports it, naming the extra
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return value

    @field_validator("scheme", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


def parse_extras(extra: dict[str, Any] | None, conn_id: str | None) -> ConnectionExtras:
    """Validate a connection's extras; raise ``ValueError`` naming each bad extra and its range.

    Empty values (the UI form sends ``""`` for a field left blank) mean "use the default".
    """
    cleaned = {key: value for key, value in (extra or {}).items() if value not in (None, "")}
    try:
        return ConnectionExtras.model_validate(cleaned)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "extra"
            problems.append(f"{name}={error.get('input')!r}: {_allowed(name, error['msg'])}")
        raise ValueError(f"Connection {conn_id!r} has invalid extras: {'; '.join(problems)}") from None


def _allowed(name: str, message: str) -> str:
    """pydantic's message, plus the allowed range taken from the model."""
    field = ConnectionExtras.model_fields.get(name)
    if field is None:
        return message
    bounds = []
    for item in field.metadata:
        for attr, word in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(item, attr, None)
            if value is not None:
                bounds.append(f"{word} {value}")
    kind = field.annotation.__name__ if isinstance(field.annotation, type) else "value"
    allowed = f"allowed: a {kind}" + (f" {' and '.join(bounds)}" if bounds else "")
    return f"{message} ({allowed})"


def form_fields() -> dict[str, dict[str, Any]]:
    """Provider-info ``conn-fields``, derived from :class:`ConnectionExtras`'s JSON schema."""
    schema = ConnectionExtras.model_json_schema()["properties"]
    fields: dict[str, dict[str, Any]] = {}
    for name, prop in schema.items():
        if name in HIDDEN_EXTRAS:
            continue
        kinds = [option["type"] for option in prop.get("anyOf", [prop]) if "type" in option]
        field_schema: dict[str, Any] = {"type": [*(k for k in kinds if k != "null"), "null"]}
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "maxLength"):
            for option in prop.get("anyOf", [prop]):
                if key in option:
                    field_schema[key] = option[key]
        if prop.get("default") is not None:
            # The form shows the value the hook uses when the extra is absent: an empty field or an
            # unticked "Verify TLS" must not misstate what happens.
            field_schema["default"] = prop["default"]
        fields[name] = {"label": prop["title"], "description": prop["description"], "schema": field_schema}
    return fields
