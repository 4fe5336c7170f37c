"""Airflow 3.3's "resumable job" conventions, reported for our stronger re-attach rule.

``airflow.sdk.ResumableJobMixin`` gives synchronous operators crash recovery: store the external
id, reconnect on retry, and report each decision as a ``resumable_job.*`` counter and a
``resumable_job.resume_decision`` span. The video operators already do more (see
:mod:`.reattach`): an in-flight marker written *before* the create request closes the window
the mixin admits between "submitted" and "id persisted"; a fingerprint stops an edited request
from re-using the old video; expired links, 404s and partial remixes have their own rules; and
the wait can be deferred. So they do not inherit the mixin's ``execute_resumable`` (that would
weaken those guarantees, and the Airflow registry's "Durable" badge, given to mixin subclasses,
is therefore not claimed), but they follow its conventions where they fit:

* ``durable=True`` (default) / ``False``: the same argument and meaning; ``False`` submits on
  every try without reading or writing the task state store;
* the same counters (``resumable_job.fresh_submit``, ``reconnect_attempt``, ``reconnect_success``,
  ``already_succeeded``, ``terminal_resubmit``, tagged ``operator``) and the same span with the
  same attributes (``resumable.decision``, ``resumable.external_id_key``, ``resumable.external_id``,
  ``resumable.prior_status``), so dashboards built for mixin operators count ours too. A
  refusal (an earlier try's create may have been accepted) has no mixin counter: the span says
  ``resumable.decision = "uncertain_submission"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from airflow_provider_videogen.operators.reattach import RECORD_KEY

if TYPE_CHECKING:
    from airflow_provider_videogen.models import VideoTask
    from airflow_provider_videogen.operators.reattach import Decision, SubmissionRecord

tracer = trace.get_tracer(__name__)

#: Our decision -> the mixin's ``resumable.decision`` and the counters it increments.
MIXIN_DECISIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fresh": ("fresh_submit", ("resumable_job.fresh_submit",)),
    "reattach": ("reconnect", ("resumable_job.reconnect_attempt", "resumable_job.reconnect_success")),
    "reuse": ("already_succeeded", ("resumable_job.reconnect_attempt", "resumable_job.already_succeeded")),
    "resubmit": ("terminal_resubmit", ("resumable_job.reconnect_attempt", "resumable_job.terminal_resubmit")),
    "refuse": ("uncertain_submission", ()),
}


def _incr(name: str, tags: dict[str, Any]) -> None:
    try:
        from airflow.sdk._shared.observability.metrics import stats
    except ImportError:  # pragma: no cover - present in Airflow 3.3; metrics are best effort
        return
    stats.incr(name, tags=tags)


def mixin_decision(decision: Decision, record: SubmissionRecord | None) -> str:
    """Our :class:`~.reattach.Decision` in the mixin's vocabulary (a key of :data:`MIXIN_DECISIONS`)."""
    if decision.action == "submit":
        return "fresh" if record is None else "resubmit"
    return decision.action


def report_decision(
    operator: str,
    decision: Decision,
    record: SubmissionRecord | None,
    remote: VideoTask | None,
    ti: Any = None,
) -> str:
    """Emit the span and counters of one decision, as ``ResumableJobMixin`` does; returns its name."""
    name, counters = MIXIN_DECISIONS[mixin_decision(decision, record)]
    tags: dict[str, Any] = {"operator": operator}
    team = (getattr(ti, "stats_tags", None) or {}).get("team_name") if ti is not None else None
    if team:
        tags["team_name"] = team
    with tracer.start_as_current_span("resumable_job.resume_decision") as span:
        span.set_attribute("operator", operator)
        span.set_attribute("resumable.external_id_key", RECORD_KEY)
        span.set_attribute("resumable.decision", name)
        if record is not None:
            span.set_attribute("resumable.external_id", record.id)
        if remote is not None:
            span.set_attribute("resumable.prior_status", remote.state.value)
    for counter in counters:
        _incr(counter, tags)
    return name
