"""What must hold after every chaos run: pure functions over facts the driver collected.

Each ``check_*`` takes plain data (no cluster, no network) and returns the violations it finds,
one sentence each, so a unit test can build the facts of a broken run and watch it fail
(``tests/test_chaos_invariants.py``). ``facts.py`` collects the facts from the stack.

The promise they check: one bill per video, nothing lost, nothing locked, nothing leaked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

#: What a task says when a create may have reached the gateway and it will not pay again.
UNCERTAIN_TEXTS = ("never learned whether the gateway accepted it", "may have reached the gateway")
#: What a task says when it pays once more for an uncertain create (``on_uncertain_submission="resubmit"``).
RESUBMIT_TEXT = "resubmitting because on_uncertain_submission='resubmit'"
#: Remote task states that render nothing: a retry may create again (a new, billed task).
FAILED_REMOTE = frozenset({"failed", "cancelled"})
#: Remote task states of a rendered video (the unified API says ``completed``).
SUCCEEDED_REMOTE = frozenset({"completed", "succeeded"})
TERMINAL_TI = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})


@dataclass(frozen=True)
class Create:
    """One create the gateway accepted (a task exists and bills) for a video."""

    task_id: str
    #: The HTTP status the gateway answered; >= 400 means the answer was lost (the task exists).
    status_code: int = 200
    remote_status: str | None = None
    credits: Decimal | None = None


@dataclass(frozen=True)
class Entry:
    """A budget ledger entry of the video's task instance."""

    reservation_id: str
    state: str
    estimate: Decimal
    credits: Decimal | None = None
    remote_id: str | None = None


@dataclass(frozen=True)
class Video:
    """Everything known about one video of the load after the run."""

    tag: str
    #: Final state of its generation task instance (``None``: never created).
    state: str | None
    creates: tuple[Create, ...] = ()
    #: Every try's log (task and trigger logs), concatenated.
    log: str = ""
    entries: tuple[Entry, ...] = ()
    #: Phase of the in-flight marker left in the task state store (``None``: none left).
    marker_phase: str | None = None
    #: Remote task ids of its archived objects.
    archived_task_ids: tuple[str, ...] = ()
    #: The task that creates it: ``generate`` (a clip) or ``remix`` (a 15 s remix).
    task: str = "generate"

    @property
    def reported_uncertain(self) -> bool:
        return any(text in self.log for text in UNCERTAIN_TEXTS)

    @property
    def gateway_failed(self) -> bool:
        """Every create of it failed at the gateway (a retryable code on every try): its own reason."""
        return bool(self.creates) and all(c.remote_status in FAILED_REMOTE for c in self.creates)

    @property
    def resubmits(self) -> int:
        return self.log.count(RESUBMIT_TEXT)


@dataclass(frozen=True)
class ArchivedObject:
    key: str
    sha256_bytes: str
    sha256_metadata: str | None
    remote_task_id: str | None
    #: sha256 of the bytes the simulator serves for that task and index (``None``: not found).
    sha256_served: str | None


@dataclass(frozen=True)
class Crash:
    name: str
    code: int
    at: float


@dataclass
class Facts:
    """Everything the invariants look at."""

    videos: list[Video] = field(default_factory=list)
    budget_limit: Decimal = Decimal(0)
    #: Every entry of the ledger (all runs, all videos): what counts against the budget.
    ledger_held: Decimal = Decimal(0)
    objects: list[ArchivedObject] = field(default_factory=list)
    #: ``(where, which secret)`` of every secret found in a file or in the database dump.
    secret_hits: list[tuple[str, str]] = field(default_factory=list)
    crashes: list[Crash] = field(default_factory=list)
    #: ``(stopped, started)`` wall times of the driver's PostgreSQL restarts.
    postgres_down: list[tuple[float, float]] = field(default_factory=list)
    #: ``run_id/archive/map_index -> state`` of every archive task instance (one per rendered video).
    archive_states: dict[str, str | None] = field(default_factory=dict)
    #: Runs that had not ended by the deadline.
    unfinished_runs: list[str] = field(default_factory=list)


# ---- 1. each video created exactly once, except reported uncertain creates -----------------


def check_creates(videos: Iterable[Video]) -> list[str]:
    """Each video is created once; more only after a failed render or a logged resubmit; a lost
    create answer is reported by the task; a video that ended without a video says why."""
    found: list[str] = []
    for video in videos:
        live = [c for c in video.creates if c.remote_status not in FAILED_REMOTE]
        if len(live) > 1 + video.resubmits:
            found.append(
                f"{video.tag}: {len(live)} creates that did not fail at the gateway "
                f"({', '.join(c.task_id for c in live)}), {video.resubmits} resubmit(s) logged: paid twice"
            )
        lost = [c for c in video.creates if c.status_code >= 400]
        if lost and not video.reported_uncertain:
            found.append(
                f"{video.tag}: the answer to create {lost[0].task_id} was lost (HTTP {lost[0].status_code}) "
                "and no task said so (no uncertain-submission message)"
            )
        if video.state not in TERMINAL_TI:
            found.append(f"{video.tag}: its generation task ended {video.state!r}, not finished")
        elif video.state == "success" and not any(c.remote_status in SUCCEEDED_REMOTE for c in video.creates):
            found.append(f"{video.tag}: the task succeeded but no create of it succeeded at the gateway")
        elif video.state != "success" and not (video.reported_uncertain or video.gateway_failed):
            found.append(f"{video.tag}: the task ended {video.state} without a video and without saying why it stopped")
    return found


# ---- 2. the ledger matches the remote tasks; held + settled <= budget ----------------------


def check_ledger(videos: Iterable[Video], *, limit: Decimal, held: Decimal) -> list[str]:
    """Each settled entry names one of the video's own tasks at the gateway's credits; every
    create is covered by an entry; the whole ledger holds no more than the budget."""
    found: list[str] = []
    if held > limit:
        found.append(f"the ledger holds {held} credits (reserved + settled), more than the budget of {limit}")
    named: dict[str, str] = {}
    for video in videos:
        creates = {c.task_id: c for c in video.creates}
        for entry in video.entries:
            if entry.state != "settled" or entry.remote_id is None:
                continue
            if entry.remote_id in named:
                found.append(
                    f"{video.tag}: remote task {entry.remote_id} is counted twice "
                    f"({named[entry.remote_id]} and {entry.reservation_id})"
                )
            named[entry.remote_id] = entry.reservation_id
            create = creates.get(entry.remote_id)
            if create is None:
                found.append(f"{video.tag}: entry {entry.reservation_id} settles {entry.remote_id}, not a task of it")
            elif create.credits is not None and entry.credits != create.credits:
                found.append(
                    f"{video.tag}: entry {entry.reservation_id} settled {entry.credits} credits, "
                    f"the gateway reserved {create.credits} for {entry.remote_id}"
                )
        settled = {e.remote_id for e in video.entries if e.state == "settled"}
        unsettled = [c for c in video.creates if c.task_id not in settled]
        reserved = [e for e in video.entries if e.state == "reserved"]
        if len(unsettled) > len(reserved):
            found.append(
                f"{video.tag}: {len(unsettled)} create(s) without a settled entry "
                f"({', '.join(c.task_id for c in unsettled)}) but {len(reserved)} entry(ies) still reserved: "
                "billed outside the budget"
            )
    return found


# ---- 3. nothing left locked without a task that can resolve it -----------------------------


def check_nothing_locked(videos: Iterable[Video]) -> list[str]:
    """An in-flight marker or a held reservation left behind is reported to a human by the task
    (who resolves it: ``python -m airflow_provider_videogen.uncertain``); a video that succeeded
    leaves neither."""
    found: list[str] = []
    for video in videos:
        reserved = [e.reservation_id for e in video.entries if e.state == "reserved"]
        if video.state == "success" and video.marker_phase == "sending":
            found.append(f"{video.tag}: succeeded but left an in-flight marker 'sending'")
        if video.state == "success" and reserved and not video.reported_uncertain:
            found.append(f"{video.tag}: succeeded but left reservation(s) {', '.join(reserved)} held")
        elif (
            video.state != "success"
            and (reserved or video.marker_phase == "sending")
            and not (video.reported_uncertain)
        ):
            found.append(
                f"{video.tag}: ended {video.state} leaving "
                + (f"reservation(s) {', '.join(reserved)} held" if reserved else "an in-flight marker 'sending'")
                + " and no uncertain-submission report to act on"
            )
    return found


# ---- 4. archived bytes are the bytes the gateway served ------------------------------------


def check_archives(
    videos: Iterable[Video], objects: Iterable[ArchivedObject], archive_states: Mapping[str, str | None]
) -> list[str]:
    """Every archived object's bytes, its sha256 metadata and the simulator's bytes agree; every
    archive task succeeded; every video that rendered is in an archived object."""
    found: list[str] = []
    for obj in objects:
        if obj.sha256_metadata != obj.sha256_bytes:
            found.append(f"s3 {obj.key}: sha256 metadata {obj.sha256_metadata} != its bytes' {obj.sha256_bytes}")
        if obj.sha256_served is None:
            found.append(f"s3 {obj.key}: the simulator has no video for task {obj.remote_task_id}")
        elif obj.sha256_served != obj.sha256_bytes:
            found.append(f"s3 {obj.key}: bytes differ from what the simulator served ({obj.sha256_served})")
    for name, state in sorted(archive_states.items()):
        if state == "skipped" and name.endswith("/-1"):
            continue  # mapped over an empty list: no video of that run rendered (each says why)
        if state != "success":
            found.append(f"archive task {name} ended {state}")
    for video in videos:
        if video.state == "success" and not set(video.archived_task_ids) & {c.task_id for c in video.creates}:
            found.append(f"{video.tag}: rendered but no archived object holds one of its tasks' videos")
    return found


# ---- 5. no secret anywhere -------------------------------------------------------------------


def find_secrets(texts: Mapping[str, str], secrets: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(where, name)`` for each secret value (``name -> value``) that occurs in a text (``where -> text``)."""
    values = [(name, value) for name, value in secrets.items() if len(value) >= 8]
    return [(where, name) for where, text in texts.items() for name, value in values if value in text]


def check_secrets(hits: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{name} found in {where}" for where, name in hits]


# ---- 6. no component crashed but those the driver killed -------------------------------------


def check_crashes(crashes: Iterable[Crash], postgres_down: Iterable[tuple[float, float]], *, grace: float) -> list[str]:
    """A component that exited on its own is a violation, unless PostgreSQL was down (stopped by
    the driver) at most ``grace`` seconds before: losing the metadata DB is a fault it caused."""
    windows = list(postgres_down)
    found = []
    for crash in crashes:
        caused = any(stopped <= crash.at <= (started or crash.at) + grace for stopped, started in windows)
        if not caused:
            found.append(f"{crash.name} exited on its own with code {crash.code} (no fault of the driver explains it)")
    return found


def check_all(facts: Facts, *, crash_grace: float = 60.0) -> list[str]:
    """Every invariant over one run's facts."""
    return [
        *(f"run {run_id} did not end by the deadline" for run_id in facts.unfinished_runs),
        *check_creates(facts.videos),
        *check_ledger(facts.videos, limit=facts.budget_limit, held=facts.ledger_held),
        *check_nothing_locked(facts.videos),
        *check_archives(facts.videos, facts.objects, facts.archive_states),
        *check_secrets(facts.secret_hits),
        *check_crashes(facts.crashes, facts.postgres_down, grace=crash_grace),
    ]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
