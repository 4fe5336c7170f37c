"""A chaos run replays by seed: the schedule and the load depend on the seed and the sizes only."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_videogen.testing.chaos.load import draw_load
from airflow_provider_videogen.testing.chaos.schedule import WEIGHTS, draw_schedule

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
    assert [len(b.videos) for b in one] == [3, 2, 2, 2, 2, 2]
    assert [b.at for b in one] == [0.0, 16.0, 32.0, 48.0, 64.0, 80.0]
    assert sorted(v.index for b in one for v in b.videos) == list(range(13))
    assert [v.prompt.replace("[chaos-a-", "[chaos-b-") for b in one for v in b.videos] == [
        v.prompt for b in two for v in b.videos
    ]
    assert len({v.tag for b in one for v in b.videos}) == 13
