"""What a gateway answer means: its JSON body, or the exception its status stands for.

Kept apart from the hook's request loop because the rules are about money and secrets, not
transport: a create (``POST``) whose answer cannot be read, or that got a 5xx (a proxy may
answer after the upstream accepted the job), is marked ``submission_uncertain`` so nothing
resubmits it blindly; and the API key is scrubbed from every body and error, whatever the
gateway echoes back.

A status answer may also say when to ask again (:func:`poll_hint`): the number is handed up on
the parsed task (``VideoTask.poll_after``), never as headers, and the poll schedule bounds it.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.exceptions import InvalidResponseError, VideoGenError, VideoGenHTTPError
from airflow_provider_videogen.hooks.redaction import redact_url, redact_value, scrub_exception
from airflow_provider_videogen.hooks.transport import decode_json, error_for_response

if TYPE_CHECKING:
    import httpx

    from airflow_provider_videogen.models import VideoTask


def answer_body(method: str, response: httpx.Response, key: str) -> dict[str, Any]:
    """The final answer's JSON body (key redacted), or the exception its status means."""
    if response.is_success:
        return _decode(method, response, key)
    raise http_error(method, response, key)


def scrubbed(exc: VideoGenError, method: str, key: str) -> VideoGenError:
    """An error raised while reading an answer: key removed; a create's answer left it uncertain."""
    if method == "POST" and isinstance(exc, InvalidResponseError):
        exc.submission_uncertain = True
    scrub_exception(exc, key)
    return exc


def _decode(method: str, response: httpx.Response, key: str) -> dict[str, Any]:
    try:
        body = decode_json(response, key)
        try:
            return redact_value(body, key)  # type: ignore[no-any-return]
        except RecursionError:
            raise InvalidResponseError(
                "the JSON answer is nested too deeply to be a task",
                status_code=response.status_code,
                method=method,
                url=redact_url(response.request.url),
            ) from None
    except VideoGenHTTPError as exc:
        if method == "POST":
            exc.submission_uncertain = True
        raise scrub_exception(exc, key) from None


def http_error(method: str, response: httpx.Response, key: str) -> VideoGenHTTPError:
    exc = error_for_response(response, key)
    # A 5xx to a create may come from a proxy after the upstream accepted the job.
    exc.submission_uncertain = method == "POST" and response.status_code >= 500
    scrub_exception(exc, key)
    return exc


#: Poll-after headers, in the order read: OpenAI's (milliseconds; its SDK's ``poll()`` honours it)
#: and HTTP's ``Retry-After`` (seconds or an HTTP date) on a status answer.
POLL_HINT_HEADERS = ("openai-poll-after-ms", "retry-after")


def poll_hint(response: httpx.Response) -> float | None:
    """Seconds the gateway asks to wait before the next status query, or ``None``.

    Read as sent (a negative or huge value included: the poll schedule clamps it to its own
    bounds, see ``triggers.polling.PollSchedule``); anything unreadable or not finite is ``None``.
    """
    raw = response.headers.get("openai-poll-after-ms")
    scale = 1 / 1000
    if raw is None:
        raw, scale = response.headers.get("retry-after"), 1.0
    if raw is None or len(raw) > 64:
        return None
    try:
        seconds = float(raw.strip()) * scale
    except ValueError:
        if scale != 1.0:
            return None
        try:  # Retry-After: <HTTP-date>
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return seconds if math.isfinite(seconds) else None


def same_task(asked: str, task: VideoTask) -> VideoTask:
    """The answer is about the task asked for, or :class:`InvalidResponseError`.

    A status answer for another task (a caching proxy, a lying gateway) would otherwise be
    re-used as this task instance's video and settle its reservation for a task it never paid.
    """
    if task.id != asked:
        raise InvalidResponseError(
            f"the gateway answered a status query for task {asked!r} with task {task.id[:100]!r}; "
            "nothing is re-used or settled from it"
        )
    return task
