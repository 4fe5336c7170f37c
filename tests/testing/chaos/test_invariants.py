"""The chaos invariants are pure: each is shown to hold on a clean run's facts and to fail on a broken one."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_videogen.testing.chaos.invariants import (
    RESUBMIT_TEXT,
    UNCERTAIN_TEXTS,
    ArchivedObject,
    Crash,
    Create,
    Entry,
    Facts,
    Video,
    check_all,
    check_archives,
    check_crashes,
    check_creates,
    check_ledger,
    check_nothing_locked,
    check_secrets,
    find_secrets,
)

UNCERTAIN = f"Not submitting: an earlier try (try 1) started ... and {UNCERTAIN_TEXTS[0]}"


def good(tag: str = "[chaos-x-v000]", task_id: str = "task-1", credits: str = "23.04") -> Video:
    """A video that rendered once, was settled in the ledger and archived."""
    return Video(
        tag=tag,
        state="success",
        creates=(Create(task_id, 200, "completed", Decimal(credits)),),
        log="Submitting ... Submitted remote task",
        entries=(
            Entry(f"chaos_videos/r/generate/0#1.{task_id}", "settled", Decimal(credits), Decimal(credits), task_id),
        ),
        archived_task_ids=(task_id,),
    )


def lost(tag: str = "[chaos-x-v001]") -> Video:
    """A create whose answer was lost: one create, the task refused, its reservation stays held."""
    return Video(
        tag=tag,
        state="failed",
        creates=(Create("task-2", 502, "completed", Decimal(23)),),
        log=UNCERTAIN,
        entries=(Entry("chaos_videos/r/generate/1#1.n", "reserved", Decimal(23)),),
        marker_phase="sending",
    )


def test_a_clean_run_has_no_violation() -> None:
    obj = ArchivedObject("videogen/k.mp4", "ab", "ab", "task-1", "ab")
    facts = Facts(videos=[good(), lost()], budget_limit=Decimal(100), ledger_held=Decimal(46), objects=[obj])
    assert check_all(facts) == []


# ---- creates ---------------------------------------------------------------------------------


def test_two_live_creates_without_a_logged_resubmit_is_paying_twice() -> None:
    video = good()
    twice = Video(**{**video.__dict__, "creates": (*video.creates, Create("task-9", 200, "completed"))})
    (violation,) = check_creates([twice])
    assert "paid twice" in violation
    assert "task-9" in violation
    resubmitted = Video(**{**twice.__dict__, "log": twice.log + RESUBMIT_TEXT})
    assert check_creates([resubmitted]) == []


def test_a_failed_render_then_a_new_create_is_allowed() -> None:
    video = good()
    retried = Video(**{**video.__dict__, "creates": (Create("task-0", 200, "failed"), *video.creates)})
    assert check_creates([retried]) == []


def test_a_lost_answer_nobody_reported_is_a_violation() -> None:
    silent = Video(**{**lost().__dict__, "log": "Submitting ..."})
    violations = check_creates([silent])
    assert any("was lost (HTTP 502)" in v for v in violations)
    assert any("without saying why" in v for v in violations)


def test_an_unfinished_or_silent_failure_is_a_violation() -> None:
    assert "not finished" in check_creates([Video(tag="t", state="running")])[0]
    assert "without saying why" in check_creates([Video(tag="t", state="failed")])[0]
    assert "no create of it succeeded" in check_creates([Video(tag="t", state="success")])[0]
    gateway_failed = Video(tag="t", state="failed", creates=(Create("a", 200, "failed"), Create("b", 200, "failed")))
    assert check_creates([gateway_failed]) == []


@given(
    live=st.integers(min_value=0, max_value=5),
    failed=st.integers(min_value=0, max_value=3),
    resubmits=st.integers(min_value=0, max_value=5),
)
def test_creates_property_paid_twice_iff_live_creates_exceed_one_plus_resubmits(
    live: int, failed: int, resubmits: int
) -> None:
    creates = tuple(Create(f"l{i}", 200, "completed") for i in range(live)) + tuple(
        Create(f"f{i}", 200, "failed") for i in range(failed)
    )
    video = Video(tag="t", state="success" if live else "failed", creates=creates, log=RESUBMIT_TEXT * resubmits)
    paid_twice = any("paid twice" in v for v in check_creates([video]))
    assert paid_twice == (live > 1 + resubmits)


# ---- ledger ----------------------------------------------------------------------------------


def test_held_over_the_budget_is_a_violation() -> None:
    (violation,) = check_ledger([good()], limit=Decimal(10), held=Decimal("10.01"))
    assert "more than the budget of 10" in violation


def test_an_entry_settled_at_other_credits_or_for_another_task_is_a_violation() -> None:
    video = good()
    entry = video.entries[0]
    wrong_credits = Video(
        **{**video.__dict__, "entries": (Entry(entry.reservation_id, "settled", Decimal(23), Decimal(1), "task-1"),)}
    )
    assert "the gateway reserved 23.04" in check_ledger([wrong_credits], limit=Decimal(99), held=Decimal(1))[0]
    other_task = Video(
        **{**video.__dict__, "entries": (Entry(entry.reservation_id, "settled", Decimal(23), None, "task-x"),)}
    )
    violations = check_ledger([other_task], limit=Decimal(99), held=Decimal(1))
    assert any("not a task of it" in v for v in violations)
    assert any("billed outside the budget" in v for v in violations)


def test_one_remote_task_counted_twice_is_a_violation() -> None:
    video = good()
    entry = video.entries[0]
    twice = Video(
        **{**video.__dict__, "entries": (entry, Entry("other#2", "settled", entry.estimate, entry.credits, "task-1"))}
    )
    assert any("counted twice" in v for v in check_ledger([twice], limit=Decimal(99), held=Decimal(46)))


@given(
    creates=st.integers(min_value=0, max_value=4),
    settled=st.integers(min_value=0, max_value=4),
    reserved=st.integers(min_value=0, max_value=4),
)
def test_ledger_property_every_create_is_covered_by_an_entry(creates: int, settled: int, reserved: int) -> None:
    settled = min(settled, creates)
    video = Video(
        tag="t",
        state="success",
        creates=tuple(Create(f"t{i}", 200, "completed") for i in range(creates)),
        entries=tuple(Entry(f"s{i}", "settled", Decimal(1), None, f"t{i}") for i in range(settled))
        + tuple(Entry(f"r{i}", "reserved", Decimal(1)) for i in range(reserved)),
    )
    outside = any("outside the budget" in v for v in check_ledger([video], limit=Decimal(99), held=Decimal(0)))
    assert outside == (creates - settled > reserved)


# ---- locks -----------------------------------------------------------------------------------


def test_a_marker_or_reservation_left_without_a_report_is_a_violation() -> None:
    assert check_nothing_locked([lost()]) == []  # reported: the uncertain CLI resolves it
    silent = Video(**{**lost().__dict__, "log": ""})
    assert "no uncertain-submission report" in check_nothing_locked([silent])[0]
    marker_left = Video(**{**good().__dict__, "marker_phase": "sending"})
    assert "left an in-flight marker" in check_nothing_locked([marker_left])[0]
    held = Video(**{**good().__dict__, "entries": (Entry("x#1", "reserved", Decimal(1)),)})
    assert "left reservation(s) x#1 held" in check_nothing_locked([held])[0]
    prepared = Video(**{**good().__dict__, "marker_phase": "prepared"})
    assert check_nothing_locked([prepared]) == []


# ---- archives --------------------------------------------------------------------------------


def test_archived_bytes_must_equal_metadata_and_served_bytes() -> None:
    assert check_archives([], [ArchivedObject("k", "ab", "ab", "t", "ab")], {}) == []
    assert "sha256 metadata" in check_archives([], [ArchivedObject("k", "ab", "cd", "t", "ab")], {})[0]
    served = check_archives([], [ArchivedObject("k", "ab", "ab", "t", "cd")], {})
    assert "differ from what the simulator served" in served[0]
    assert "has no video" in check_archives([], [ArchivedObject("k", "ab", "ab", "t", None)], {})[0]


def test_a_rendered_video_must_be_archived_by_a_successful_task() -> None:
    assert check_archives([good()], [], {"r/archive/0": "success"}) == []
    assert check_archives([good()], [], {"r/archive/0": "failed"}) == ["archive task r/archive/0 ended failed"]
    # A run where no video rendered maps the archive over nothing: skipped, unexpanded (-1).
    assert check_archives([], [], {"r/archive/-1": "skipped"}) == []
    assert check_archives([], [], {"r/archive/0": "skipped"}) == ["archive task r/archive/0 ended skipped"]
    missing = Video(**{**good().__dict__, "archived_task_ids": ()})
    assert "no archived object holds" in check_archives([missing], [], {})[0]


# ---- secrets ---------------------------------------------------------------------------------


@given(prefix=st.text(max_size=40), suffix=st.text(max_size=40))
def test_a_secret_anywhere_in_a_text_is_found(prefix: str, suffix: str) -> None:
    key = "sk-sim-0123456789abcdef"
    hits = find_secrets(
        {"logs/x.log": prefix + key + suffix, "clean": prefix + suffix.replace(key, "")}, {"the API key": key}
    )
    assert ("logs/x.log", "the API key") in hits
    assert check_secrets(hits)[0].startswith("the API key found in logs/x.log")


def test_short_values_are_not_searched() -> None:
    assert find_secrets({"f": "abc"}, {"tiny": "abc"}) == []


# ---- crashes ---------------------------------------------------------------------------------


def test_a_crash_is_a_violation_unless_postgres_was_down_just_before() -> None:
    crash = Crash("scheduler-1", 1, 1000.0)
    assert "scheduler-1 exited on its own" in check_crashes([crash], [], grace=60)[0]
    assert check_crashes([crash], [(990.0, 995.0)], grace=60) == []
    assert check_crashes([crash], [(800.0, 810.0)], grace=60) != []
    assert check_crashes([crash], [(999.0, 0.0)], grace=60) == []  # still down


def test_unfinished_runs_are_violations() -> None:
    assert check_all(Facts(unfinished_runs=["chaos-1"], budget_limit=Decimal(1))) == [
        "run chaos-1 did not end by the deadline"
    ]


def remix(task_id: str = "remix-1", settled_at: str = "60") -> Video:
    """A remix: the gateway reports a quota, not credits (``credits=None``), so the entry settles the estimate."""
    return Video(
        tag="[chaos-x-r001]",
        state="success",
        creates=(Create(task_id, 200, "completed", None),),
        entries=(Entry(f"chaos_videos/r/remix/0#1.{task_id}", "settled", Decimal(60), Decimal(settled_at), task_id),),
        archived_task_ids=(task_id,),
        task="remix",
    )


def test_remixes_are_checked_like_clips_but_not_against_credits_the_gateway_does_not_report() -> None:
    assert check_creates([remix()]) == []
    assert check_ledger([remix(settled_at="61")], limit=Decimal(100), held=Decimal(61)) == []
    twice = Video(**{**remix().__dict__, "creates": (*remix().creates, Create("remix-2", 200, "completed", None))})
    assert "paid twice" in check_creates([twice])[0]
    assert "billed outside the budget" in check_ledger([twice], limit=Decimal(200), held=Decimal(60))[0]
    unarchived = Video(**{**remix().__dict__, "archived_task_ids": ()})
    assert "no archived object" in check_archives([unarchived], [], {})[0]
