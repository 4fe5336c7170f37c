"""What a chaos run makes: V videos in a few ``chaos_videos`` runs spread over the fault window.

The prompts are drawn from the seed (``random.Random(f"{seed}-load")``): each video's render time
and, for about one in five, a create whose answer the simulator holds back for some seconds
(``[sim:hold_answer=N]``: the window in which a killed worker never learns the task id). Each
prompt carries a tag unique to the run (``[chaos-<run>-v007]``) by which the simulator's create
log is matched to the video. The runs are triggered at offsets through the fault window, so
creates happen while components die, not only at the start.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.testing.airflow_components import TERMINAL_RUN_STATES
from airflow_provider_videogen.testing.chaos.chaos_dag import CHAOS_DAG_ID
from airflow_provider_videogen.testing.chaos.faults import CHAOS_PROMPT_MARK

if TYPE_CHECKING:
    from airflow_provider_videogen.testing.airflow_components import AirflowApi

#: Share of videos whose create answer is held back, and for how long (seconds).
HELD_SHARE = 0.2
HELD_SECONDS = (8.0, 25.0)
RENDER_SECONDS = (4.0, 30.0)


@dataclass(frozen=True)
class Video:
    index: int
    tag: str
    prompt: str
    batch: int
    map_index: int
    held: float


@dataclass(frozen=True)
class Batch:
    number: int
    at: float
    run_id: str
    videos: tuple[Video, ...]


def draw_load(seed: int, *, videos: int, minutes: float, name: str) -> list[Batch]:
    """``videos`` videos in runs of about two, one run every 20 s or more through the first 80 %
    of the window, so that creates, renders and archives go on while the faults happen.

    ``name`` makes tags and run ids unique on a shared simulator and cluster (it does not change
    what is drawn).
    """
    if videos < 1:
        raise ValueError(f"videos={videos} must be at least 1")
    rng = random.Random(f"{seed}-load")
    window = minutes * 60.0
    runs = max(1, min(videos // 2, int(window // 20)))
    drawn: list[Video] = []
    for index in range(videos):
        batch = index % runs
        render = round(rng.uniform(*RENDER_SECONDS), 1)
        held = round(rng.uniform(*HELD_SECONDS), 1) if rng.random() < HELD_SHARE else 0.0
        tag = f"{CHAOS_PROMPT_MARK}{name}-v{index:03d}]"
        directives = f"[sim:render={render}]" + (f" [sim:hold_answer={held}]" if held else "")
        prompt = f"{directives} {tag} clip {index}: a lighthouse keeper's day, shot {index}"
        drawn.append(Video(index, tag, prompt, batch, index // runs, held))
    return [
        Batch(
            number=k,
            at=round(k * 0.8 * window / runs, 1),
            run_id=f"chaos-{name}-{k}",
            videos=tuple(v for v in drawn if v.batch == k),
        )
        for k in range(runs)
    ]


def try_trigger(api: AirflowApi, batch: Batch, bucket: str) -> bool:
    """Trigger the batch's run; ``False`` while the API server or the database is down (try again).

    A retry after a trigger whose answer was lost finds the run already there: done.
    """
    conf: dict[str, Any] = {"prompts": [v.prompt for v in batch.videos], "bucket": bucket}
    try:
        api.trigger(CHAOS_DAG_ID, conf=conf, run_id=batch.run_id)
        return True
    except Exception:
        return run_state(api, batch.run_id) is not None


def run_state(api: AirflowApi, run_id: str) -> str | None:
    """The run's state, ``None`` while the API cannot answer (a component is down)."""
    try:
        return str(api.dag_run(CHAOS_DAG_ID, run_id).get("state"))
    except Exception:
        return None


def wait_for_runs(api: AirflowApi, run_ids: list[str], *, deadline: float) -> list[str]:
    """Wait (until the monotonic ``deadline``) for every run to end; return the ones that did not."""
    pending = list(run_ids)
    while pending and time.monotonic() < deadline:
        pending = [run_id for run_id in pending if run_state(api, run_id) not in TERMINAL_RUN_STATES]
        if pending:
            time.sleep(3.0)
    return pending
