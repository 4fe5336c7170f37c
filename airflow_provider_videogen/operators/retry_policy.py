"""The video tasks' ``retry_policy`` (Airflow 3.3): retry what a retry can fix, fail at once what it cannot.

Airflow consults a task's ``retry_policy`` with the exception of a failed try, in the worker,
before it spends one of the task's ``retries``; the policy can fail the task at once, retry it
(with its own delay) or leave the decision to Airflow. Its ``reason`` is logged with the
decision ("Retry policy decision ... reason=..."), so the task log says *why* a video task was,
or was not, retried. The policy never grants more tries than ``retries``.

What a retry of a video task does is safe by construction (it re-attaches to the remote task an
earlier try paid for: :mod:`.reattach`), so the policy only decides whether it is *useful*:

========================================================  =========================================
failure                                                   decision
========================================================  =========================================
create may have reached the gateway, answer unknown       fail: a retry could pay twice
invalid parameters (checked here, or HTTP 400/413/422)    fail: the same request fails again
remote task failed with a request-at-fault code           fail: a new submission fails the same way
(``content_policy_violation``, ``invalid_parameters``...)  and is billed
HTTP 402 / no credits, budget or price refusal            fail: the money is not there on the next try
HTTP 429                                                  retry after ``Retry-After`` (at most 1 h)
HTTP 5xx, unreadable answer, gateway unreachable          retry: the retry re-attaches (no new bill)
Airflow's deferral timeout (a lost trigger)               retry: the retry re-attaches
remote task failed with a transient code                  retry: a new, billed task may succeed
anything else (authentication, timeouts, your own code)   Airflow's default (``retries``)
========================================================  =========================================

Most "fail" rows are already raised as ``AirflowFailException`` by the operators, which Airflow
never retries and never shows a policy; the policy states the rule for the rest (and for a
custom operator or ``@task`` that calls the hook and lets these exceptions through).

It is the default ``retry_policy`` of the video operators and decorators; pass
``retry_policy=None`` for Airflow's plain behaviour, or your own policy.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.definitions.retry_policy import RetryAction, RetryDecision, RetryPolicy
from airflow.sdk.exceptions import TaskDeferralTimeout

from airflow_provider_videogen.exceptions import (
    BadRequestError,
    InsufficientCreditsError,
    InvalidRequestError,
    InvalidResponseError,
    RateLimitedError,
    ServerError,
    VideoGenConnectionError,
    VideoGenError,
    VideoTaskFailedError,
)
from airflow_provider_videogen.spend.ledger import BudgetExhaustedError
from airflow_provider_videogen.spend.prices import PriceConfigError

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

__all__ = ["MAX_RATE_LIMIT_DELAY", "VideoRetryPolicy"]

#: The longest wait the policy asks for on a 429, whatever the gateway's ``Retry-After`` says: Airflow
#: applies a policy's delay as it is (``max_retry_delay`` does not cap it), and a retry that comes too
#: early only meets another 429, which bills nothing.
MAX_RATE_LIMIT_DELAY = timedelta(hours=1)

_NO_SECOND_BILL = "the retry re-attaches to the remote task an earlier try submitted, if any: no second bill"


class VideoRetryPolicy(RetryPolicy):
    """Decide retry or fail from what the exception says about the video task (see the module table)."""

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Context | None = None,
    ) -> RetryDecision:
        if isinstance(exception, VideoGenError) and exception.submission_uncertain:
            return RetryDecision.fail(
                "the create request may have reached the gateway without an answer: a retry could pay for a "
                "second video; check the gateway's task list first"
            )
        if isinstance(exception, (InvalidRequestError, BadRequestError)):
            return RetryDecision.fail(
                f"invalid parameters ({_short(exception)}): the same request would be refused again; nothing was billed"
            )
        if isinstance(exception, VideoTaskFailedError):
            if not exception.retryable:
                return RetryDecision.fail(
                    f"remote task {exception.task_id} failed with {exception.code or 'no code'}: a new submission "
                    "would fail the same way and be billed again"
                )
            return RetryDecision.retry(
                reason=f"remote task {exception.task_id} failed with the transient code {exception.code}: "
                "the retry submits a new task, billed as any (the failed render may have been billed too)"
            )
        if isinstance(exception, (InsufficientCreditsError, BudgetExhaustedError, PriceConfigError)):
            return RetryDecision.fail(
                f"budget refusal ({_short(exception)}): the money will not be there on the next try either"
            )
        if isinstance(exception, RateLimitedError):
            return _after_retry_after(exception, context)
        if isinstance(exception, (ServerError, InvalidResponseError, VideoGenConnectionError)):
            if _task_attr(context, "durable") is False:
                return RetryDecision(
                    action=RetryAction.DEFAULT,
                    reason=f"the gateway is failing or unreachable ({_short(exception)}); durable=False, so a retry "
                    "after a create submits a new, billed task: left to the task's retries",
                )
            return RetryDecision.retry(
                reason=f"the gateway is failing or unreachable ({_short(exception)}); {_NO_SECOND_BILL}"
            )
        if isinstance(exception, TaskDeferralTimeout):
            return _lost_trigger(context)
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": "VideoRetryPolicy"}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> VideoRetryPolicy:
        return cls()

    def __repr__(self) -> str:
        return "VideoRetryPolicy()"

    def __eq__(self, other: object) -> bool:  # stateless: every instance decides the same way
        return isinstance(other, VideoRetryPolicy)

    def __hash__(self) -> int:
        return hash(VideoRetryPolicy)


def _after_retry_after(exc: RateLimitedError, context: Context | None) -> RetryDecision:
    """Retry no sooner than the gateway asked (up to a cap), nor sooner than the task's own ``retry_delay``."""
    own = _task_attr(context, "retry_delay")
    own_delay = own if isinstance(own, timedelta) else None
    asked_s = exc.retry_after
    if asked_s is None or math.isnan(asked_s):  # none, or not a number: the task's own delay
        return RetryDecision.retry(
            reason="rate limited (HTTP 429, no usable Retry-After): retrying after the task's retry_delay"
        )
    cap = MAX_RATE_LIMIT_DELAY
    ceiling = _task_attr(context, "max_retry_delay")
    if isinstance(ceiling, timedelta):
        cap = min(cap, ceiling)
    asked = min(timedelta(seconds=max(0.0, min(asked_s, cap.total_seconds()))), cap)
    delay = max(asked, own_delay) if own_delay is not None else asked
    capped = f" (capped from the gateway's {asked_s:g} s)" if asked_s > cap.total_seconds() else ""
    return RetryDecision.retry(
        delay=delay,
        reason=f"rate limited (HTTP 429): retrying in {delay.total_seconds():g} s{capped}, not before the "
        f"gateway's Retry-After of {min(asked_s, cap.total_seconds()):g} s",
    )


def _lost_trigger(context: Context | None) -> RetryDecision:
    if _task_attr(context, "durable") is False:
        return RetryDecision(
            action=RetryAction.DEFAULT,
            reason="Airflow's deferral timeout fired (a lost trigger); durable=False, so a retry submits a new, "
            "billed task: left to the task's retries",
        )
    return RetryDecision.retry(
        reason=f"Airflow's deferral timeout fired before the trigger reported (a lost trigger); {_NO_SECOND_BILL}"
    )


def _task_attr(context: Context | None, name: str) -> Any:
    task = (context or {}).get("task") or getattr((context or {}).get("ti"), "task", None)
    return getattr(task, name, None)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text if len(text) <= 300 else text[:300] + '...'}"
