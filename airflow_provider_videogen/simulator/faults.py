"""Fault injection: per-task directives in the prompt, and gateway-wide faults from the config.

Per-task directives
-------------------
Put one or more directives anywhere in ``prompt`` (remix: ``prompt`` or ``prompt_extend``).
They stay in the prompt (the request is validated as sent) and apply to that task only. An
unknown or malformed ``[sim:...]`` directive is refused with 400, so a typo does not silently
test the happy path.

``[sim:fail=<code>]``
    The task fails with error code ``<code>`` (e.g. ``content_policy_violation``,
    ``generation_timeout``, ``request_cancelled``). Unified API: halfway through rendering, with
    the progress reached so far. Remix: during the first segment, shaped like ``generate_failed``
    (progress 0, no video, no ``remix_id_extend``).
``[sim:generate_fail]``
    Remix (also accepted by the unified API): the first 8 s segment fails with
    ``generate_failed`` and the gateway's E-1005 message; nothing is usable.
``[sim:extend_fail]``
    Remix only: the first 8 s succeed, the 7 s extension fails with ``extend_failed`` and the
    E-2003 message; ``data.video_url`` is the 8 s clip, progress stays at 50.
``[sim:render=<seconds>]``
    This task takes exactly ``<seconds>`` of wall time (float). Deliberately NOT multiplied by
    ``time_scale``, so a test can rely on the number it wrote whatever the global speed.
``[sim:estimate=<seconds>]``
    Unified API: ``task_info.estimated_time`` says ``<seconds>`` (rounded up) whatever the task's
    real render time, so a render can be made faster or slower than its estimate. Without it
    the estimate is the configured render time times ``estimate_factor`` (see the config).
``[sim:create_status=<status>]``
    The create request is handled and the task IS created (and billed, and counted in
    ``creates_accepted``), but the answer is an error with this HTTP status. Proves that a
    client does not blindly retry a create whose answer it did not see.
``[sim:hold_answer=<seconds>]``
    The create request is handled, the task IS created (billed, counted in ``creates_accepted``
    and visible in the stats at once), and only then is the answer held back for ``<seconds>``
    (not scaled): the window in which a client that dies mid-create never learns the task id.
``[sim:progress_stall]`` / ``[sim:progress_stall=<percent>]``
    Progress grows to ``<percent>`` (default 42) and the task stays ``processing`` forever: for
    deadline and timeout tests.
``[sim:empty_results]``
    Unified API: the task completes with an empty ``results`` list.
``[sim:result_data]``
    Unified API: the URLs come as ``result_data: [{"video_url": ...}]`` instead of ``results``.

Gateway-wide faults (config, ``SimulatorServer.configure`` or ``POST /_sim/config``)
------------------------------------------------------------------------------------
``next_responses``: a queue of :class:`~.config.ResponseFault` answers for the next matching
requests (filter by ``method`` and ``path`` prefix; ``times``; ``retry_after``; ``after_create``;
``malformed``; a raw ``body``, ``pad_bytes`` of leading JSON whitespace, a ``trickle_seconds``
pause before each byte, a ``location`` header). An answer streamed with ``pad_bytes`` or
``trickle_seconds`` that the client abandons before its end is counted as the fault source
``stream_abandoned`` (when the server notices), one sent to its end as ``stream_completed``; a
trickled answer counts as ``trickle_abandoned`` / ``trickle_completed`` instead. The server may
notice a padded answer's end after its client has moved on, so the two are kept apart.
``rate_429`` / ``rate_500`` / ``rate_502`` / ``rate_503``: random answers on
``/v1`` routes from an RNG seeded with ``seed`` (429 and 503 carry ``Retry-After:
retry_after_seconds``). ``get_status``: every ``GET /v1/...`` answers this status.
``slow_seconds``: delay before every ``/v1`` answer. ``malformed``: every ``/v1`` answer is an
HTML page (``html``: 200, ``html_502``: nginx's 502 page) or JSON cut in half (``truncated``).
``drop_download_after_bytes`` + ``drop_download_times``: the next downloads send that many body
bytes, then the connection is dropped (for Range-resume tests).

Precedence for one request: a queued ``next_responses`` entry, then ``get_status``, then the
random rates, then the global ``malformed``. ``/_sim`` routes are never faulted; video downloads
(``/files``) only by ``next_responses`` entries whose ``path`` selects them and by the drop.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass

from airflow_provider_videogen.simulator.config import MalformedKind, ResponseFault, SimulatorConfig

# --------------------------------------------------------------------------------------------
# Directives
# --------------------------------------------------------------------------------------------

_DIRECTIVE_RE = re.compile(r"\[sim:([A-Za-z_]+)(?:=([^\]\s]*))?\]")
_DIRECTIVE_START = "[sim:"
DEFAULT_STALL_PROGRESS = 42

GENERATE_FAILED_MESSAGE = "视频生成失败:违反谷歌AI安全协议 请调整图片和提示词 (E-1005)"
EXTEND_FAILED_MESSAGE = "第一段视频生成成功,但二创失败:线路繁忙,请重试 (E-2003)"

#: Messages of task error codes, as a gateway words them (a default for codes not listed).
TASK_ERROR_MESSAGES: dict[str, str] = {
    "content_policy_violation": "The prompt or image was rejected by the content safety policy; "
    "adjust them and submit again",
    "invalid_parameters": "The upstream model rejected the request parameters",
    "image_processing_error": "The input image could not be processed",
    "image_dimension_mismatch": "The first and last frame images have different dimensions",
    "request_cancelled": "The task was cancelled",
    "resource_not_found": "An input resource could not be downloaded",
    "model_unavailable": "The model is not available for this account",
    "generation_timeout": "Video generation timed out upstream",
    "quota_exceeded": "The upstream quota is exhausted; try again later",
    "resource_exhausted": "The upstream capacity is exhausted; try again later",
    "generation_failed_no_content": "The model finished without producing a video",
    "service_error": "Internal service error",
    "service_unavailable": "The upstream service is unavailable",
    "upstream_error": "The upstream provider returned an error",
    "unknown_error": "Unknown error",
    "generate_failed": GENERATE_FAILED_MESSAGE,
    "extend_failed": EXTEND_FAILED_MESSAGE,
}


class DirectiveError(ValueError):
    """A ``[sim:...]`` directive the simulator does not understand (answered with 400)."""


@dataclass(frozen=True)
class Directives:
    """What the ``[sim:...]`` directives of one request ask for."""

    fail_code: str | None = None
    extend_fail: bool = False
    render_seconds: float | None = None
    estimate_seconds: float | None = None
    create_status: int | None = None
    hold_answer_seconds: float = 0.0
    stall_progress: int | None = None
    empty_results: bool = False
    result_data: bool = False


def parse_directives(*texts: str | None, remix: bool) -> Directives:
    """Read the directives of a request's prompt fields; raise :class:`DirectiveError` on a bad one."""
    values: dict[str, object] = {}
    for text in texts:
        if not text or _DIRECTIVE_START not in text:
            continue
        found = list(_DIRECTIVE_RE.finditer(text))
        if text.count(_DIRECTIVE_START) != len(found):
            raise DirectiveError(
                "a [sim:...] directive is malformed; write e.g. [sim:fail=content_policy_violation] "
                "or [sim:render=2.5] (no spaces)"
            )
        for match in found:
            name, raw = match.group(1).lower(), match.group(2)
            values.update(_directive(name, raw, remix))
    return Directives(**values)  # type: ignore[arg-type]


def _directive(name: str, raw: str | None, remix: bool) -> dict[str, object]:
    if name == "fail":
        if not raw:
            raise DirectiveError("[sim:fail=<code>] needs an error code, e.g. [sim:fail=content_policy_violation]")
        return {"fail_code": raw}
    if name == "generate_fail":
        return {"fail_code": "generate_failed"}
    if name == "extend_fail":
        if not remix:
            raise DirectiveError("[sim:extend_fail] applies to the remix API (POST /v1/videos) only")
        return {"extend_fail": True}
    if name == "render":
        seconds = _number(name, raw)
        return {"render_seconds": seconds}
    if name == "estimate":
        if remix:
            raise DirectiveError("[sim:estimate] applies to the unified API (POST /v1/videos/generations) only")
        return {"estimate_seconds": _number(name, raw)}
    if name == "create_status":
        status = int(_number(name, raw))
        if not 400 <= status <= 599:
            raise DirectiveError(f"[sim:create_status={raw}] must be an HTTP error status (400-599)")
        return {"create_status": status}
    if name == "hold_answer":
        return {"hold_answer_seconds": _number(name, raw)}
    if name == "progress_stall":
        percent = DEFAULT_STALL_PROGRESS if raw is None else int(_number(name, raw))
        if not 0 <= percent <= 99:
            raise DirectiveError(f"[sim:progress_stall={raw}] must be a percentage from 0 to 99")
        return {"stall_progress": percent}
    if name in ("empty_results", "result_data"):
        if remix:
            raise DirectiveError(f"[sim:{name}] applies to the unified API (POST /v1/videos/generations) only")
        return {name: True}
    raise DirectiveError(
        f"unknown simulator directive [sim:{name}]; known: fail, generate_fail, extend_fail, render, "
        "estimate, create_status, hold_answer, progress_stall, empty_results, result_data"
    )


def _number(name: str, raw: str | None) -> float:
    try:
        value = float(raw or "")
    except ValueError:
        raise DirectiveError(f"[sim:{name}=...] needs a number, got {raw!r}") from None
    if value < 0 or value != value:
        raise DirectiveError(f"[sim:{name}={raw}] must not be negative")
    return value


# --------------------------------------------------------------------------------------------
# Gateway-wide faults
# --------------------------------------------------------------------------------------------

#: Default error code and message of an injected answer, by HTTP status.
STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "Bad request"),
    401: ("invalid_api_key", "Invalid API key"),
    402: ("insufficient_credits", "Insufficient credits"),
    403: ("access_denied", "Access denied"),
    404: ("not_found", "Not found"),
    408: ("request_timeout", "Request timed out"),
    409: ("conflict", "Conflict"),
    413: ("request_too_large", "Request entity too large"),
    429: ("rate_limit_exceeded", "Too many requests: rate or concurrency limit reached; retry later"),
    500: ("internal_error", "Internal server error"),
    502: ("upstream_error", "Bad gateway: the upstream provider did not answer properly"),
    503: ("service_unavailable", "Service temporarily unavailable"),
    504: ("gateway_timeout", "Gateway timeout"),
}

#: The remix gateway words its rate limit in Chinese (api-notes: "429 may come localized").
REMIX_429_MESSAGE = "当前分组上游负载已饱和,请稍后再试"


def status_error(status: int) -> tuple[str, str]:
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return ("server_error" if status >= 500 else "request_error", f"HTTP {status}")


@dataclass(frozen=True)
class EdgeFault:
    """What to do to one request before (or instead of) handling it."""

    source: str
    status: int | None = None
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    malformed: MalformedKind | None = None
    after_create: bool = False
    delay: float = 0.0
    body: str | None = None
    pad_bytes: int = 0
    trickle_seconds: float = 0.0
    location: str | None = None

    @property
    def replaces_answer(self) -> bool:
        """True when the simulator must not handle the request at all."""
        return self.status is not None and self.malformed is None and not self.after_create


class FaultState:
    """Consumable fault state (queue, download drops) and the seeded RNG; thread-safe."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self._queue: list[tuple[ResponseFault, int]] = []
        self._drops_remaining = 0
        self.load(config, set(SimulatorConfig.model_fields))

    def load(self, config: SimulatorConfig, changed: set[str]) -> None:
        """Take the consumable parts of freshly applied settings (only the ones that were set)."""
        with self._lock:
            if "seed" in changed:
                self._rng = random.Random(config.seed)
            if "next_responses" in changed:
                self._queue = [(fault, fault.times) for fault in config.next_responses]
            if changed & {"drop_download_after_bytes", "drop_download_times"}:
                self._drops_remaining = (
                    config.drop_download_times if config.drop_download_after_bytes is not None else 0
                )

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [{**fault.model_dump(mode="json"), "remaining": left} for fault, left in self._queue]

    def decide(self, config: SimulatorConfig, method: str, path: str, *, api_route: bool) -> EdgeFault | None:
        """Pick the fault for one request, consuming a queued entry if one matches."""
        delay = config.slow_seconds if api_route else 0.0
        with self._lock:
            for index, (fault, left) in enumerate(self._queue):
                if fault.matches(method, path):
                    if left <= 1:
                        del self._queue[index]
                    else:
                        self._queue[index] = (fault, left - 1)
                    return EdgeFault(
                        source="next_responses",
                        status=fault.status,
                        retry_after=fault.retry_after,
                        code=fault.code,
                        message=fault.message,
                        malformed=fault.malformed,
                        after_create=fault.after_create,
                        delay=delay + fault.delay,
                        body=fault.body,
                        pad_bytes=fault.pad_bytes,
                        trickle_seconds=fault.trickle_seconds,
                        location=fault.location,
                    )
            if not api_route:
                return None
            if config.get_status is not None and method.upper() == "GET":
                return EdgeFault(source="get_status", status=config.get_status, delay=delay)
            for status, rate in (
                (429, config.rate_429),
                (500, config.rate_500),
                (502, config.rate_502),
                (503, config.rate_503),
            ):
                if rate > 0 and self._rng.random() < rate:
                    retry = config.retry_after_seconds if status in (429, 503) else None
                    return EdgeFault(source="random", status=status, retry_after=retry, delay=delay)
        if config.malformed is not None:
            return EdgeFault(source="malformed", malformed=config.malformed, delay=delay)
        if delay > 0:
            return EdgeFault(source="slow", delay=delay)
        return None

    def take_drop(self, config: SimulatorConfig) -> int | None:
        """Bytes after which to drop this download, or ``None`` to serve it whole."""
        with self._lock:
            if config.drop_download_after_bytes is None or self._drops_remaining <= 0:
                return None
            self._drops_remaining -= 1
            return config.drop_download_after_bytes


# --------------------------------------------------------------------------------------------
# Malformed answers
# --------------------------------------------------------------------------------------------

HTML_CHALLENGE_PAGE = (
    b'<!DOCTYPE html><html lang="en"><head><title>Just a moment...</title></head>'
    b"<body><h1>Checking your browser before accessing the API.</h1>"
    b"<p>This process is automatic. Your browser will redirect to your requested content shortly.</p>"
    b"</body></html>"
)
HTML_502_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def mangle(kind: MalformedKind, status: int, body: bytes) -> tuple[int, str, bytes]:
    """``(status, content type, body)`` of a mangled answer."""
    if kind == "html":
        return 200, "text/html; charset=utf-8", HTML_CHALLENGE_PAGE
    if kind == "html_502":
        return 502, "text/html", HTML_502_PAGE
    cut = max(1, len(body) // 2) if len(body) > 1 else 1
    return status, "application/json", (body[:cut] if len(body) > 1 else b"{")
