"""The hook's one retry policy, and the loop that applies it to every call that may be retried.

Three calls go through it: a sync request (operators), an async request (the triggerer, the
worker's polling) and opening a download stream. The rules that cost money are written once:

* a query (GET) is retried on 429, 5xx and transport failures;
* a create (POST) only when the connection was never established: a create that may have
  reached the gateway may be rendering, and a duplicate bills the user twice;
* opening a download retries only what proves nothing was sent; its answer (an expired link,
  a 5xx mid-archive) and resuming with ``Range`` are the caller's business.

Each retry is logged (method, target, what failed, the wait, which retry of how many), on the
sync and the async path alike.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass, field
from datetime import timezone
from typing import TYPE_CHECKING, Any, Protocol

import httpx

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from airflow_provider_videogen.hooks.settings import ConnectionSettings

#: Never wait longer than this for one retry, whatever Retry-After says.
MAX_RETRY_SLEEP = 120.0
#: Transport errors that prove the request never left this machine: safe to retry even a create.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class RetryLog(Protocol):
    """Where retries are told: the hook's ``log`` (stdlib or Airflow's structlog logger)."""

    def debug(self, msg: Any, /, *args: Any) -> Any: ...
    def warning(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with full jitter, honouring ``Retry-After``."""

    max_retries: int
    backoff: float
    backoff_max: float
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(cls, settings: ConnectionSettings) -> RetryPolicy:
        return cls(settings.max_retries, settings.retry_backoff, settings.retry_backoff_max)

    def should_retry_status(self, method: str, status: int) -> bool:
        return method == "GET" and (status == 429 or status >= 500)

    @staticmethod
    def should_retry_transport(method: str, exc: Exception) -> bool:
        if isinstance(exc, NOT_SENT_ERRORS):
            return True
        return method == "GET" and isinstance(exc, httpx.TransportError)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``attempt`` (0-based)."""
        ceiling = min(self.backoff_max, self.backoff * (2**attempt))
        wait = self.rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, MAX_RETRY_SLEEP)

    # ---- the loop, sync and async: the same steps, one with ``await`` -------------------------

    def send(
        self,
        send: Callable[[], httpx.Response],
        *,
        method: str,
        target: str,
        log: RetryLog,
        only_unsent: bool = False,
    ) -> httpx.Response:
        """Call ``send`` until its outcome is final: return the last response (any status), or
        raise the last transport error. ``target`` names the call in log lines (never a signed URL).

        ``only_unsent`` retries only failures that prove nothing was sent, and no answer at all.
        """
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response = send()
            except httpx.TransportError as exc:
                wait = self._wait(attempt, method, target, exc, log, only_unsent=only_unsent, started=started)
                if wait is None:
                    raise
            else:
                wait = self._wait(attempt, method, target, response, log, only_unsent=only_unsent, started=started)
                if wait is None:
                    return response
            time.sleep(wait)
            attempt += 1

    async def asend(
        self,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        method: str,
        target: str,
        log: RetryLog,
    ) -> httpx.Response:
        """:meth:`send` for the event loop: the wait is an ``asyncio.sleep``, never a blocking one."""
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response = await send()
            except httpx.TransportError as exc:
                wait = self._wait(attempt, method, target, exc, log, only_unsent=False, started=started)
                if wait is None:
                    raise
            else:
                wait = self._wait(attempt, method, target, response, log, only_unsent=False, started=started)
                if wait is None:
                    return response
            await asyncio.sleep(wait)
            attempt += 1

    def _wait(
        self,
        attempt: int,
        method: str,
        target: str,
        outcome: httpx.Response | httpx.TransportError,
        log: RetryLog,
        *,
        only_unsent: bool,
        started: float,
    ) -> float | None:
        """Seconds to wait before retrying this outcome (logged), or ``None`` when it is final."""
        if isinstance(outcome, httpx.Response):
            status = outcome.status_code
            log.debug("%s %s -> %s in %.0f ms", method, target, status, (time.monotonic() - started) * 1000)
            if outcome.is_success or only_unsent or not self.should_retry_status(method, status):
                return None
            what = f" -> HTTP {status}"
            retry_after = parse_retry_after(outcome.headers.get("retry-after"))
        else:
            retryable = (
                isinstance(outcome, NOT_SENT_ERRORS) if only_unsent else self.should_retry_transport(method, outcome)
            )
            if not retryable:
                return None
            what = f": {type(outcome).__name__}"
            retry_after = None
        if attempt >= self.max_retries:
            return None
        wait = self.delay(attempt, retry_after)
        log.warning(
            "%s %s%s; retrying in %.1fs (retry %d of %d)", method, target, what, wait, attempt + 1, self.max_retries
        )
        return wait


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)
