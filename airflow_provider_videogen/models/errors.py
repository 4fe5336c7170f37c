"""What the gateway says went wrong: error bodies of HTTP answers and error codes of failed tasks.

Two kinds of failure reach the package. An HTTP answer other than 2xx carries an error body,
parsed by :class:`ApiError` from either of the gateway's two shapes. A task that ran and failed
carries an error code, and whether to resubmit depends on it: a request at fault would fail the
same way and be billed again, so the code sets below decide, in one place, what is retryable
(:func:`classify_task_error`; a retry policy reads the same classification).
Codes arrive as strings or integers and are compared as strings (:func:`normalize_error_code`).

**What a failure costs.** The seeds document no refund: the gateway reserves a task's credits
when it accepts the create (``usage.credits_reserved``; the remix task's ``quota``), and sends
the callback of a failed task "after billing is confirmed", like that of a completed one. So a
failed render may be billed, and every new submission is a new charge
(:data:`FAILED_RENDER_BILLING`, said once here and quoted by the errors and the README). An
undocumented code therefore does not mean "try again": nobody knows whether the same request
would fail the same way, so it is not resubmitted automatically.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

#: What a failed render costs, in the words every error and the README use.
FAILED_RENDER_BILLING = (
    "A failed render may be billed (the gateway reserves its credits at create and documents no refund), "
    "and a new submission is billed again."
)

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


class TaskErrorKind(str, Enum):
    """What a failed task's error code says about submitting the same request again."""

    #: The request is at fault (:data:`NON_RETRYABLE_TASK_ERRORS`): it would fail the same way.
    REQUEST = "request"
    #: A documented transient code (:data:`TRANSIENT_TASK_ERRORS`): a new submission may succeed.
    TRANSIENT = "transient"
    #: No code, or one the gateway does not document: a new submission is paid for without
    #: knowing that it can succeed, so only a human resubmits.
    UNKNOWN = "unknown"


def classify_task_error(code: str | None) -> TaskErrorKind:
    """The kind of a failed task's error code (the one place that reads the code sets)."""
    if code in NON_RETRYABLE_TASK_ERRORS:
        return TaskErrorKind.REQUEST
    if code in TRANSIENT_TASK_ERRORS:
        return TaskErrorKind.TRANSIENT
    return TaskErrorKind.UNKNOWN


def is_retryable_task_error(code: str | None) -> bool:
    """True only for documented transient codes: a resubmission is billed again (:data:`FAILED_RENDER_BILLING`)."""
    return classify_task_error(code) is TaskErrorKind.TRANSIENT


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
