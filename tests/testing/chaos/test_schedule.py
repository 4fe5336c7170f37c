"""A chaos run replays by seed: the schedule and the load depend on the seed and the sizes only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_videogen.testing.chaos.chaos_dag import CHAOS_DAILY_DAG_ID
from airflow_provider_videogen.testing.chaos.faults import Injector
from airflow_provider_videogen.testing.chaos.load import draw_load
from airflow_provider_videogen.testing.chaos.schedule import WEIGHTS, Fault, Schedule, draw_schedule

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer

COMPONENTS = ["api-server", "dag-processor", "scheduler-1", "scheduler-2", "triggerer-1", "celery-worker-1"]


@settings(max_examples=50)
@given(seed=st.integers(min_value=0, max_value=2**32), minutes=st.floats(min_value=0.5, max_value=15))
def test_same_seed_same_schedule_whatever_the_component_order(seed: int, minutes: float) -> None:
    first = draw_schedule(seed, minutes=minutes, components=COMPONENTS)
    again = draw_schedule(seed, minutes=minutes, components=list(reversed(COMPONENTS)))
    assert first == again
    assert first.describe() == again.describe()
    assert all(15 <= f.at < minutes * 60 for f in first.faults)
    assert all(f.kind in WEIGHTS for f in first.faults)
    assert all(set(f.targets) <= set(COMPONENTS) for f in first.faults)


@settings(max_examples=50)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_faults_of_one_kind_never_overlap_and_no_component_is_killed_while_down(seed: int) -> None:
    faults = draw_schedule(seed, minutes=10, components=COMPONENTS).faults
    for i, fault in enumerate(faults):
        for later in faults[i + 1 :]:
            if later.kind == fault.kind and later.kind != "lost-answers":
                assert later.at >= fault.at + fault.duration
            if "kill" == fault.kind == later.kind and later.at <= fault.at + fault.duration:
                assert not set(fault.targets) & set(later.targets)


def test_different_seeds_draw_different_schedules() -> None:
    assert draw_schedule(1, minutes=10, components=COMPONENTS) != draw_schedule(2, minutes=10, components=COMPONENTS)


def test_load_is_drawn_from_the_seed_and_the_name_only_tags_it() -> None:
    one = draw_load(7, videos=13, minutes=2, name="a")
    two = draw_load(7, videos=13, minutes=2, name="b")
    # 11 clips in 5 runs, 3 of them remixed (clips 1, 5, 9); 2 backfilled days of 1 video each.
    assert [(b.kind, len(b.videos)) for b in one] == [
        ("trigger", 4), ("trigger", 3), ("backfill", 2), ("trigger", 2), ("trigger", 2), ("trigger", 3),
    ]  # fmt: skip
    assert [b.at for b in one] == [0.0, 19.2, 30.0, 38.4, 57.6, 76.8]
    videos = [v for b in one for v in b.videos]
    assert sorted(v.index for v in videos if v.task == "generate") == list(range(13))
    assert sorted(v.index for v in videos if v.task == "remix") == [1, 5, 9]
    assert {v.dag_id for v in videos if "-d" in v.tag} == {CHAOS_DAILY_DAG_ID}
    others = [v for b in two for v in b.videos]
    assert [v.prompt.split(" [chaos-")[0] for v in videos] == [v.prompt.split(" [chaos-")[0] for v in others]
    assert [v.prompt.replace("[chaos-a-", "[chaos-b-") for v in videos if v.task == "remix" or "-v" in v.tag] == [
        v.prompt for v in others if v.task == "remix" or "-v" in v.tag
    ]
    assert len({v.tag for v in videos}) == 16


def test_small_loads_have_no_backfill_and_the_backfill_days_are_distinct() -> None:
    assert all(b.kind == "trigger" for b in draw_load(3, videos=7, minutes=2, name="a"))
    backfill = [b for b in draw_load(3, videos=60, minutes=10, name="a") if b.kind == "backfill"]
    assert len(backfill) == 1
    assert len(set(backfill[0].days)) == 3
    assert len(backfill[0].videos) == 9
    assert len(set(backfill[0].run_ids)) == 3


def test_trickle_faults_are_drawn_from_the_seed() -> None:
    trickles = [
        f for seed in range(40) for f in draw_schedule(seed, minutes=5, components=COMPONENTS).faults
        if f.kind == "trickle"
    ]  # fmt: skip
    assert trickles
    assert all(1 <= f.count <= 4 and 0.02 <= f.rate <= 0.2 for f in trickles)
    assert "answered 503 one byte every" in trickles[0].describe()


def test_trickle_queues_behind_lost_answers_not_used_up(simulator: SimulatorServer) -> None:
    """Setting the simulator's answer queue replaces it: a trickle must not cancel pending lost answers."""
    lost = Fault(at=0, kind="lost-answers", duration=0, count=2)
    trickle = Fault(at=0, kind="trickle", duration=0, count=3, rate=0.05)
    injector = Injector(Schedule(seed=0, window=60, faults=(lost, trickle)), None, simulator, None)  # type: ignore[arg-type]
    injector.start()
    injector.step()
    pending = simulator.stats()["pending_responses"]
    assert [(p["status"], p["method"], p["remaining"], p["trickle_seconds"]) for p in pending] == [
        (502, "POST", 2, 0.0),
        (503, "GET", 3, 0.05),
    ]
