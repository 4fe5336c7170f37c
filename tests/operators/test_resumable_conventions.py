"""ResumableJobMixin's conventions on the video operators: ``durable``, ``resumable_job.*`` counters, the span.

The counters go through Airflow's own metrics module (``stats``), initialised here with a
recording backend; the span through OpenTelemetry's SDK with an in-memory exporter.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk._shared.observability.metrics import stats
from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from airflow_provider_videogen.models import ApiKind, TaskState, VideoTask
from airflow_provider_videogen.operators import resumable
from airflow_provider_videogen.operators.reattach import RECORD_KEY, SubmissionRecord, decide

if TYPE_CHECKING:
    from collections.abc import Iterator

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
PRINT = "f" * 32


class RecordingStats(NoStatsLogger):
    """Airflow's no-op metrics backend, keeping the counters it was sent."""

    def __init__(self) -> None:
        self.counters: list[tuple[str, dict[str, Any]]] = []

    def incr(  # type: ignore[override]
        self, stat: str, count: int = 1, rate: float = 1, *, tags: dict[str, Any] | None = None
    ) -> None:
        self.counters.append((stat, dict(tags or {})))

    def names(self) -> list[str]:
        return [name for name, _ in self.counters if name.startswith("resumable_job.")]


@pytest.fixture
def recorded() -> Iterator[RecordingStats]:
    backend = RecordingStats()
    saved = (stats._factory, stats._export_legacy_names)
    stats.initialize(factory=lambda: backend, export_legacy_names=False)
    yield backend
    stats.initialize(factory=saved[0] or NoStatsLogger, export_legacy_names=saved[1])


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    resumable.tracer = provider.get_tracer(resumable.__name__)  # this module's spans only, whatever is global
    return exporter


def record() -> SubmissionRecord:
    return SubmissionRecord(
        id="task-unified-1-abcdefgh", api=ApiKind.GENERATION, fingerprint=PRINT, submitted_at=NOW, try_number=1
    )


def remote(state: TaskState, **kwargs: Any) -> VideoTask:
    return VideoTask(id="task-unified-1-abcdefgh", api=ApiKind.GENERATION, state=state, **kwargs)


CASES = [
    ("fresh_submit", None, None, ["resumable_job.fresh_submit"]),
    (
        "reconnect",
        record(),
        remote(TaskState.RUNNING),
        ["resumable_job.reconnect_attempt", "resumable_job.reconnect_success"],
    ),
    (
        "already_succeeded",
        record(),
        remote(TaskState.SUCCEEDED, video_urls=["https://cdn/x.mp4"], completed_at=NOW),
        ["resumable_job.reconnect_attempt", "resumable_job.already_succeeded"],
    ),
    (
        "terminal_resubmit",
        record(),
        remote(TaskState.FAILED, error_code="service_unavailable"),
        ["resumable_job.reconnect_attempt", "resumable_job.terminal_resubmit"],
    ),
]


@pytest.mark.parametrize(("expected", "stored", "gateway", "counters"), CASES, ids=[c[0] for c in CASES])
def test_each_decision_is_reported_like_the_mixin(
    recorded: RecordingStats,
    spans: InMemorySpanExporter,
    expected: str,
    stored: SubmissionRecord | None,
    gateway: VideoTask | None,
    counters: list[str],
) -> None:
    spans.clear()
    decision = decide(stored, None, gateway, PRINT, now=NOW + timedelta(minutes=5))
    assert resumable.report_decision("VideoGenerationOperator", decision, stored, gateway) == expected
    assert recorded.names() == counters
    assert all(tags == {"operator": "VideoGenerationOperator"} for _, tags in recorded.counters)
    (span,) = spans.get_finished_spans()
    assert span.name == "resumable_job.resume_decision"
    attributes = dict(span.attributes or {})
    assert attributes["resumable.decision"] == expected
    assert attributes["resumable.external_id_key"] == RECORD_KEY
    if stored is not None and gateway is not None:
        assert attributes["resumable.external_id"] == stored.id
        assert attributes["resumable.prior_status"] == gateway.state.value


def test_a_refusal_has_a_span_but_no_mixin_counter(recorded: RecordingStats, spans: InMemorySpanExporter) -> None:
    from airflow_provider_videogen.operators.reattach import InFlightMarker

    spans.clear()
    marker = InFlightMarker(fingerprint=PRINT, started_at=NOW, try_number=1)
    decision = decide(None, marker, None, PRINT, now=NOW)
    assert resumable.report_decision("VideoRemixOperator", decision, None, None) == "uncertain_submission"
    assert recorded.names() == []
    assert dict(spans.get_finished_spans()[0].attributes or {})["resumable.decision"] == "uncertain_submission"


@pytest.fixture
def fast_sim(simulator: Any, videogen_conn: str) -> Any:
    simulator.configure(render_seconds=1.0)
    return simulator


def test_a_retry_reports_reconnect_and_re_use(run_dag: Any, fast_sim: Any, recorded: RecordingStats) -> None:
    dagrun = run_dag("test_generation_retry_reattach")
    assert dagrun.state == "success"
    assert fast_sim.stats()["generation"]["creates"] == 1
    assert recorded.names() == [
        "resumable_job.fresh_submit",
        "resumable_job.reconnect_attempt",
        "resumable_job.already_succeeded",
    ]


def test_durable_false_submits_on_every_try(
    run_dag: Any, fast_sim: Any, recorded: RecordingStats, log_text: Any
) -> None:
    dagrun = run_dag("test_generation_not_durable")
    # Each try submits a 3 s render and waits 2 s: both time out, and the retry paid again.
    assert dagrun.state == "failed"
    assert fast_sim.stats()["generation"]["creates"] == 2  # what durable=True exists to prevent
    assert recorded.names() == []
    assert "durable=False: a retry submits a new task" in log_text()
