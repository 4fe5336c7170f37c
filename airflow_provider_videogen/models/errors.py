"""What the gateway says went wrong: error bodies of HTTP answers and error codes of failed tasks.

Two kinds of failure reach the package. An HTTP answer other than 2xx carries an error body,
parsed by :class:`ApiError` from either of the gateway's two shapes. A task that ran and failed
carries an error code, and whether to resubmit depends on it: a request at fault would fail the
same way and be billed again, so the code sets below decide, in one place, what is retryable.
Codes arrive as strings or integers and are compared as strings (:func:`normalize_error_code`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# --------------------------------------------------------------------------------------------
# Task error codes
# --------------------------------------------------------------------------------------------

#: Task error codes that mean the request itself is at fault: a new submission would fail the
#: same way and be billed again, so operators fail without retrying.
NON_RETRYABLE_TASK_ERRORS: frozenset[str] = frozenset(
    {
        "content_policy_violation",
        "invalid_parameters",
        "image_processing_error",
        "image_dimension_mismatch",
        "request_cancelled",
        "resource_not_found",
        "model_unavailable",
        "generate_failed",
    }
)

#: Task error codes for which a new submission may succeed.
TRANSIENT_TASK_ERRORS: frozenset[str] = frozenset(
    {
        "generation_timeout",
        "quota_exceeded",
        "resource_exhausted",
        "generation_failed_no_content",
        "service_error",
        "service_unavailable",
        "upstream_error",
        "unknown_error",
        "extend_failed",
    }
)


def is_retryable_task_error(code: str | None) -> bool:
    """True when resubmitting might help. Unknown codes count as retryable (Airflow's retries decide)."""
    return code not in NON_RETRYABLE_TASK_ERRORS


def normalize_error_code(raw: Any) -> str | None:
    """An error code as a string (gateways send ``400`` or ``"400"``); ``None`` when absent or empty."""
    return None if raw in (None, "") else str(raw)


# --------------------------------------------------------------------------------------------
# HTTP error bodies
# --------------------------------------------------------------------------------------------


class ApiError(BaseModel):
    """Error body of a non-2xx answer, from ``{"error": {...}}`` or ``{"code", "message", "data"}``."""

    model_config = ConfigDict(frozen=True)

    code: str | None = None
    message: str | None = None
    type: str | None = None
    param: str | None = None
    fallback_suggestion: str | None = None

    @classmethod
    def from_body(cls, body: Any) -> ApiError:
        if not isinstance(body, dict):
            return cls()
        err = body.get("error")
        if isinstance(err, dict):
            src = err
        elif isinstance(err, str):
            src = {"message": err, "code": body.get("code")}
        else:
            src = body
        return cls(
            code=normalize_error_code(src.get("code")),
            message=_str_or_none(src.get("message") or src.get("detail")),
            type=_str_or_none(src.get("type")),
            param=_str_or_none(src.get("param")),
            fallback_suggestion=_str_or_none(src.get("fallback_suggestion")),
        )


def _str_or_none(raw: Any) -> str | None:
    if raw is None:
        return None
    return raw if isinstance(raw, str) else str(raw)
