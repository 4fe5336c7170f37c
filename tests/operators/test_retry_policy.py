"""VideoRetryPolicy: the exceptions the hook raises on the simulator's faults, and what the policy decides.

Each failure is produced for real (HTTP over loopback to the simulator); the policy is then asked
what Airflow's task runner would ask it. The run through Airflow (default wiring, the decision
applied and logged) is in tests/decorators/test_taskflow_dags.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.definitions.retry_policy import RetryAction
from airflow.sdk.exceptions import TaskDeferralTimeout

from airflow_provider_videogen.exceptions import (
    BadRequestError,
    InsufficientCreditsError,
    RateLimitedError,
    ServerError,
    VideoGenError,
    VideoTaskFailedError,
)
from airflow_provider_videogen.hooks.retries import parse_retry_after
from airflow_provider_videogen.hooks.videogen import VideoGenHook
from airflow_provider_videogen.models import ApiKind, GenerationRequest
from airflow_provider_videogen.models.errors import is_retryable_task_error
from airflow_provider_videogen.operators.retry_policy import MAX_RATE_LIMIT_DELAY, VideoRetryPolicy
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator

POLICY = VideoRetryPolicy()
GENERATIONS = "/v1/videos/generations"


@pytest.fixture
def hook(simulator: Any, videogen_conn: str) -> VideoGenHook:
    return VideoGenHook(videogen_conn)


def raised(call: Any) -> BaseException:
    with pytest.raises(VideoGenError) as info:
        call()
    return info.value


def request(prompt: str = "A heron") -> GenerationRequest:
    return GenerationRequest(model="veo3.1-fast", prompt=prompt, duration=4)


def context_of(**task_args: Any) -> dict[str, Any]:
    with DAG("policy_context", schedule=None, start_date=datetime(2026, 1, 1)):
        task = VideoGenerationOperator(task_id="t", model="veo3.1-fast", prompt="x", **task_args)
    return {"task": task}


def test_429_on_create_retries_not_before_retry_after(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(next_responses=[{"status": 429, "retry_after": 7, "method": "POST", "path": GENERATIONS}])
    exc = raised(lambda: hook.submit_generation(request()))
    assert isinstance(exc, RateLimitedError)
    decision = POLICY.evaluate(exc, 1, 3, context_of(retry_delay=timedelta(seconds=1)))
    assert decision.action is RetryAction.RETRY
    assert decision.retry_delay == timedelta(seconds=7)
    assert "Retry-After of 7 s" in (decision.reason or "")
    # A task whose own delay is longer keeps it: the policy never retries sooner than the task asks.
    longer = POLICY.evaluate(exc, 1, 3, context_of(retry_delay=timedelta(seconds=30)))
    assert longer.retry_delay == timedelta(seconds=30)
    assert simulator.stats()["generation"]["creates_accepted"] == 0


def test_gateway_5xx_on_a_query_retries(hook: VideoGenHook, simulator: Any) -> None:
    task = hook.submit_generation(request())
    simulator.configure(next_responses=[{"status": 502, "method": "GET", "times": 20}])
    exc = raised(lambda: hook.get_task(ApiKind.GENERATION, task.id))
    assert isinstance(exc, ServerError)
    assert not exc.submission_uncertain
    decision = POLICY.evaluate(exc, 1, 3, None)
    assert decision.action is RetryAction.RETRY
    assert "no second bill" in (decision.reason or "")
    # Attack: with durable=False nothing re-attaches; "no second bill" would be a lie in the log.
    # The retry (a new, billed task) is then left to the task's retries, as for a lost trigger.
    no_store = POLICY.evaluate(exc, 1, 3, context_of(durable=False))
    assert no_store.action is RetryAction.DEFAULT
    assert "no second bill" not in (no_store.reason or "")
    assert "durable=False" in (no_store.reason or "")


def test_5xx_on_create_is_an_uncertain_submission_and_fails_at_once(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(next_responses=[{"status": 502, "method": "POST", "path": GENERATIONS, "after_create": True}])
    exc = raised(lambda: hook.submit_generation(request()))
    assert isinstance(exc, ServerError)
    assert exc.submission_uncertain
    decision = POLICY.evaluate(exc, 1, 3, None)
    assert decision.action is RetryAction.FAIL
    assert "second video" in (decision.reason or "")


def test_invalid_parameters_from_the_gateway_fail_at_once(hook: VideoGenHook, simulator: Any) -> None:
    exc = raised(lambda: hook.submit_generation(request("[sim:no_such_directive] a typo")))
    assert isinstance(exc, BadRequestError)
    decision = POLICY.evaluate(exc, 1, 3, None)
    assert decision.action is RetryAction.FAIL
    assert "invalid parameters" in (decision.reason or "")


def test_no_credits_fails_at_once(hook: VideoGenHook, simulator: Any) -> None:
    simulator.configure(next_responses=[{"status": 402, "method": "POST", "path": GENERATIONS}])
    exc = raised(lambda: hook.submit_generation(request()))
    assert isinstance(exc, InsufficientCreditsError)
    decision = POLICY.evaluate(exc, 1, 3, None)
    assert decision.action is RetryAction.FAIL
    assert "budget refusal" in (decision.reason or "")


@pytest.mark.parametrize(
    ("code", "action"),
    [("content_policy_violation", RetryAction.FAIL), ("service_unavailable", RetryAction.RETRY)],
)
def test_remote_failures_follow_the_error_code(code: str, action: RetryAction) -> None:
    exc = VideoTaskFailedError("task-1", code, "message", retryable=is_retryable_task_error(code))
    decision = POLICY.evaluate(exc, 1, 3, None)
    assert decision.action is action
    assert code in (decision.reason or "")


def test_lost_trigger_retries_when_the_retry_reattaches() -> None:
    exc = TaskDeferralTimeout("Trigger/execution timeout")
    durable = POLICY.evaluate(exc, 1, 3, context_of())
    assert durable.action is RetryAction.RETRY
    assert "lost trigger" in (durable.reason or "")
    # durable=False: a retry pays again; the policy says so and leaves it to the task's retries.
    not_durable = POLICY.evaluate(exc, 1, 3, context_of(durable=False))
    assert not_durable.action is RetryAction.DEFAULT
    assert "billed" in (not_durable.reason or "")


def test_anything_else_is_left_to_airflow() -> None:
    decision = POLICY.evaluate(KeyError("mine"), 1, 3, None)
    assert decision.action is RetryAction.DEFAULT
    assert decision.reason is None


def test_operators_use_it_by_default_unless_told_otherwise() -> None:
    assert isinstance(context_of()["task"].retry_policy, VideoRetryPolicy)
    assert context_of(retry_policy=None)["task"].retry_policy is None
    with DAG(
        "policy_default_args", schedule=None, start_date=datetime(2026, 1, 1), default_args={"retry_policy": None}
    ):
        task = VideoGenerationOperator(task_id="t", model="veo3.1-fast", prompt="x")
    assert task.retry_policy is None
    assert VideoRetryPolicy.deserialize(POLICY.serialize()) == POLICY


def test_a_huge_retry_after_does_not_park_the_task_for_years(hook: VideoGenHook, simulator: Any) -> None:
    """Attack: a gateway answers 429 with ``Retry-After: 1000000000`` (31 years). Airflow applies a
    policy's delay as it is (``max_retry_delay`` does not cap it), so the policy caps what it asks."""
    simulator.configure(
        next_responses=[{"status": 429, "retry_after": 1_000_000_000, "method": "POST", "path": GENERATIONS}]
    )
    exc = raised(lambda: hook.submit_generation(request()))
    assert isinstance(exc, RateLimitedError)
    decision = POLICY.evaluate(exc, 1, 3, context_of(retry_delay=timedelta(seconds=1)))
    assert decision.action is RetryAction.RETRY
    assert decision.retry_delay == MAX_RATE_LIMIT_DELAY
    assert "capped" in (decision.reason or "")
    # The task's own max_retry_delay caps it further.
    capped = POLICY.evaluate(exc, 1, 3, context_of(max_retry_delay=timedelta(minutes=5)))
    assert capped.retry_delay == timedelta(minutes=5)


@pytest.mark.parametrize("header", ["inf", "1e400", "-5", "nan", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_garbled_retry_after_still_gives_a_bounded_retry(header: str) -> None:
    """An infinite, negative or far-future Retry-After must not crash the policy (Airflow would then
    drop to its default delay silently) nor ask for an impossible delay."""
    exc = RateLimitedError("rate limited", retry_after=parse_retry_after(header))
    decision = POLICY.evaluate(exc, 1, 3, context_of(retry_delay=timedelta(seconds=1)))
    assert decision.action is RetryAction.RETRY
    assert decision.retry_delay is not None
    assert timedelta(0) <= decision.retry_delay <= MAX_RATE_LIMIT_DELAY
