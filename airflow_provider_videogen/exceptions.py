"""Exceptions: one class per thing a user does differently about a failure.

Every HTTP failure carries the HTTP status, the API's error code and message, and the URL
(which never contains the API key: it travels in a header). Messages are written for the
person reading the task log at 3 a.m.: what happened, and what to do about it.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class VideoGenError(AirflowException):
    """Base class of every error raised by this provider."""

    #: True when a create request may have reached the gateway although it failed here: the job
    #: may exist and be billed, so it must not be resubmitted without looking first.
    submission_uncertain: bool = False


class InvalidRequestError(VideoGenError, ValueError):
    """A request broke a documented limit; raised before anything was sent (nothing was billed)."""

    def __init__(self, what: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "; ".join(message for _, message in problems)
        super().__init__(f"Invalid {what}: {lines}")

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.problems]


class VideoGenHTTPError(VideoGenError):
    """The gateway answered with an HTTP error."""

    #: What the user should do, appended to the message.
    advice: str = ""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        api_code: str | None = None,
        method: str | None = None,
        url: str | None = None,
        param: str | None = None,
    ) -> None:
        self.message = message
        self.status = status_code
        self.api_code = api_code
        self.method = method
        self.url = url
        self.param = param
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.method} {self.url}" if self.method and self.url else (self.url or "request")
        code = f" [{self.api_code}]" if self.api_code else ""
        field = f" (field: {self.param})" if self.param else ""
        text = f"{where} failed with HTTP {self.status}{code}: {self.message}{field}"
        return f"{text}. {self.advice}" if self.advice else text


class BadRequestError(VideoGenHTTPError):
    """400/413/422: the gateway refused the request's content. Resubmitting the same thing fails again."""

    advice = "Fix the named field; the request was not accepted and not billed."


class AuthenticationError(VideoGenHTTPError):
    """401/403: the API key is wrong, revoked, or lacks access to this model."""

    advice = "Check the API key (password) of the videogen connection and the key's model permissions."


class InsufficientCreditsError(VideoGenHTTPError):
    """402, or 403 ``insufficient_user_quota``: the account cannot pay for this video."""

    advice = "Top up the account's credits; retrying before that only fails again."


class NotFoundError(VideoGenHTTPError):
    """404: unknown task id or route (a task from another account or gateway, or a wrong base URL)."""

    advice = "Check the task id and the connection's base URL."


class RateLimitedError(VideoGenHTTPError):
    """429: rate or concurrency limit. ``retry_after`` holds the server's hint in seconds, if any."""

    advice = "Lower concurrency (an Airflow pool) or wait; queries are retried automatically."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ServerError(VideoGenHTTPError):
    """5xx: the gateway or its upstream failed."""

    advice = "The gateway or its upstream is failing; queries are retried, creates are not (to avoid paying twice)."


class InvalidResponseError(VideoGenHTTPError):
    """The answer could not be understood: an HTML page, truncated JSON, an unknown status or shape."""

    advice = "The gateway (or a proxy in front of it) sent something that is not the documented API answer."


class VideoGenConnectionError(VideoGenError):
    """The gateway could not be reached (DNS, refused connection, timeout) after the allowed retries."""


class SubmissionUncertainError(VideoGenError):
    """A create request may have reached the gateway, but no answer came back.

    The job may be rendering and billed. It is never resubmitted automatically, because a
    duplicate costs the user a second video. Check the gateway's task list before resubmitting.
    """

    submission_uncertain = True


class VideoTaskFailedError(VideoGenError):
    """The remote task ended in failure (or was cancelled).

    The text says what a new submission would do for this code (``models.errors``:
    ``classify_task_error``) and what it costs (``FAILED_RENDER_BILLING``).
    """

    def __init__(self, task_id: str, code: str | None, message: str | None, *, retryable: bool) -> None:
        # models imports this module (through hooks.addresses): read the classification lazily.
        from airflow_provider_videogen.models.errors import FAILED_RENDER_BILLING, TaskErrorKind, classify_task_error

        self.task_id = task_id
        self.code = code
        self.error_message = message
        self.retryable = retryable
        if retryable:
            hint = "A new submission may succeed; Airflow's retries submit one."
        elif classify_task_error(code) is TaskErrorKind.UNKNOWN:
            hint = (
                "The gateway documents no such code, so it is not retried automatically: a new submission "
                "may fail the same way. Clear the task to submit again."
            )
        else:
            hint = "A new submission would fail the same way, so it is not retried."
        super().__init__(
            f"Remote task {task_id} failed [{code or 'no code'}]: {message or 'no message'}. "
            f"{hint} {FAILED_RENDER_BILLING}"
        )


class VideoTaskTimeoutError(VideoGenError):
    """The remote task did not finish before the operator's timeout. It may still be rendering (and billed)."""
