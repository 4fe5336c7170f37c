"""What a chaos run makes: V videos in a few ``chaos_videos`` runs spread over the fault window,
remixes of some of them, and (from 8 videos on) a backfill of a few days of ``chaos_daily``.

The prompts are drawn from the seed (``random.Random(f"{seed}-load")``): each video's render time
and, for about one in five, a create whose answer the simulator holds back for some seconds
(``[sim:hold_answer=N]``: the window in which a killed worker never learns the task id). Each
prompt carries a tag unique to the run (``[chaos-<run>-v007]``; remixes ``-r``, backfilled days
``-d``) by which the simulator's create log is matched to the video. The runs are triggered at
offsets through the fault window, so creates happen while components die, not only at the start.

The load's shape (issue 24): mapped generations; the example pipeline's remix stage and its
archive (one remix per ``REMIX_EVERY`` clips, created after that run's clips ended, on the same
budget connection: extra creates beyond V); a backfill of ``backfill_days`` past days of a daily
DAG (``POST /api/v2/backfills``; taken out of V), triggered a quarter into the window.
"""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from airflow_provider_videogen.testing.airflow_components import TERMINAL_RUN_STATES
from airflow_provider_videogen.testing.chaos.chaos_dag import CHAOS_DAG_ID, CHAOS_DAILY_DAG_ID
from airflow_provider_videogen.testing.chaos.faults import CHAOS_PROMPT_MARK

if TYPE_CHECKING:
    from airflow_provider_videogen.testing.airflow_components import AirflowApi

#: Share of videos whose create answer is held back, and for how long (seconds).
HELD_SHARE = 0.2
HELD_SECONDS = (8.0, 25.0)
RENDER_SECONDS = (4.0, 30.0)
REMIX_RENDER_SECONDS = (4.0, 15.0)
#: One remix for every this many clips of ``chaos_videos`` (the clip at place 1, 5, 9...).
REMIX_EVERY = 4
#: A backfill from this many videos on; and where its days are drawn from (before today, after
#: ``chaos_daily``'s start date).
BACKFILL_FROM_VIDEOS = 8
FIRST_DAY = date(2019, 1, 1)
DAY_SPAN = 2000


@dataclass(frozen=True)
class Video:
    index: int
    tag: str
    prompt: str
    batch: int
    map_index: int
    held: float
    dag_id: str = CHAOS_DAG_ID
    run_id: str = ""
    #: ``generate`` or ``remix``: the task instance that creates it.
    task: str = "generate"
    prompt_extend: str = ""


@dataclass(frozen=True)
class Batch:
    """One trigger of ``chaos_videos`` (``days`` empty) or one backfill of ``chaos_daily``."""

    number: int
    at: float
    run_id: str
    videos: tuple[Video, ...]
    dag_id: str = CHAOS_DAG_ID
    #: A backfill's days (``YYYY-MM-DD``), in order; their runs are ``run_ids``.
    days: tuple[str, ...] = ()

    @property
    def run_ids(self) -> tuple[str, ...]:
        return tuple(backfill_run_id(d) for d in self.days) if self.days else (self.run_id,)

    @property
    def kind(self) -> Literal["trigger", "backfill"]:
        return "backfill" if self.days else "trigger"


def backfill_run_id(day: str) -> str:
    """The run id Airflow 3 gives a backfill's run of ``day`` (midnight UTC, ``@daily``)."""
    return f"backfill__{day}T00:00:00+00:00"


def backfill_shape(videos: int) -> tuple[int, int]:
    """``(days, videos per day)`` of the backfill for a load of ``videos`` (none below 8)."""
    if videos < BACKFILL_FROM_VIDEOS:
        return 0, 0
    days = 2 if videos < 30 else 3
    return days, max(1, videos // 20)


def draw_load(seed: int, *, videos: int, minutes: float, name: str) -> list[Batch]:
    """``videos`` videos in runs of about two, one run every 20 s or more through the first 80 %
    of the window, so that creates, renders and archives go on while the faults happen; some
    remixed; from 8 videos on, a few of them in a backfill of the daily DAG instead.

    ``name`` makes tags, run ids and the backfill's days unique on a shared simulator and cluster
    (it does not change what is drawn from the seed).
    """
    if videos < 1:
        raise ValueError(f"videos={videos} must be at least 1")
    rng = random.Random(f"{seed}-load")
    window = minutes * 60.0
    days, per_day = backfill_shape(videos)
    clips = videos - days * per_day
    runs = max(1, min(clips // 2, int(window // 20)))

    def directives(index: int, render: tuple[float, float]) -> tuple[str, float]:
        seconds = round(rng.uniform(*render), 1)
        held = round(rng.uniform(*HELD_SECONDS), 1) if rng.random() < HELD_SHARE else 0.0
        return f"[sim:render={seconds}]" + (f" [sim:hold_answer={held}]" if held else ""), held

    drawn: list[Video] = []
    remixes: list[Video] = []
    for index in range(clips):
        batch = index % runs
        run_id = f"chaos-{name}-{batch}"
        said, held = directives(index, RENDER_SECONDS)
        tag = f"{CHAOS_PROMPT_MARK}{name}-v{index:03d}]"
        prompt = f"{said} {tag} clip {index}: a lighthouse keeper's day, shot {index}"
        drawn.append(Video(index, tag, prompt, batch, index // runs, held, run_id=run_id))
        if index % REMIX_EVERY == 1:
            said, held = directives(index, REMIX_RENDER_SECONDS)
            tag = f"{CHAOS_PROMPT_MARK}{name}-r{index:03d}]"
            place = sum(1 for r in remixes if r.batch == batch)
            prompt = f"{said} {tag} remix of clip {index}: the keeper climbs the stairs"
            extend = "the lamp turns on as night falls"
            remixes.append(
                Video(index, tag, prompt, batch, place, held, run_id=run_id, task="remix", prompt_extend=extend)
            )
    batches = [
        Batch(
            number=k,
            at=round(k * 0.8 * window / runs, 1),
            run_id=f"chaos-{name}-{k}",
            videos=tuple(v for v in [*drawn, *remixes] if v.batch == k),
        )
        for k in range(runs)
    ]
    if days:
        first = FIRST_DAY + timedelta(days=zlib.crc32(name.encode()) % DAY_SPAN)
        dates = [(first + timedelta(days=d)).isoformat() for d in range(days)]
        daily: list[Video] = []
        for d, day in enumerate(dates):
            for i in range(per_day):
                index = clips + d * per_day + i
                said, held = directives(index, RENDER_SECONDS)
                tag = f"{CHAOS_PROMPT_MARK}{name}-d{index:03d}]"
                prompt = f"{said} {tag} {day} clip {i}: the harbour wakes up"
                daily.append(
                    Video(index, tag, prompt, runs, i, held, dag_id=CHAOS_DAILY_DAG_ID, run_id=backfill_run_id(day))
                )
        at = round(0.25 * window, 1)
        backfill = Batch(runs, at, f"backfill-{name}", tuple(daily), dag_id=CHAOS_DAILY_DAG_ID, days=tuple(dates))
        batches = sorted([*batches, backfill], key=lambda b: (b.at, b.number))
    return batches


def _conf(batch: Batch, bucket: str) -> dict[str, Any]:
    if batch.days:
        return {
            "days": {day: [v.prompt for v in batch.videos if v.run_id == backfill_run_id(day)] for day in batch.days},
            "bucket": bucket,
        }
    return {
        "prompts": [v.prompt for v in batch.videos if v.task == "generate"],
        "remixes": [{"prompt": v.prompt, "prompt_extend": v.prompt_extend} for v in batch.videos if v.task == "remix"],
        "bucket": bucket,
    }


def try_trigger(api: AirflowApi, batch: Batch, bucket: str) -> bool:
    """Trigger the batch's run (or create its backfill); ``False`` while the API server or the
    database is down (try again). A retry after an answer that was lost finds the run there: done.
    """
    conf = _conf(batch, bucket)
    try:
        if batch.days:
            body = {
                "dag_id": batch.dag_id,
                "from_date": f"{batch.days[0]}T00:00:00Z",
                "to_date": f"{batch.days[-1]}T00:00:00Z",
                "dag_run_conf": conf,
                "reprocess_behavior": "none",
                "max_active_runs": len(batch.days),
            }
            api.request("POST", "/backfills", json=body, expect=(200, 201))
        else:
            api.trigger(batch.dag_id, conf=conf, run_id=batch.run_id)
        return True
    except Exception:
        return run_state(api, batch.dag_id, batch.run_ids[0]) is not None


def run_state(api: AirflowApi, dag_id: str, run_id: str) -> str | None:
    """The run's state, ``None`` while the API cannot answer (a component is down) or it does not exist."""
    try:
        return str(api.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").get("state"))
    except Exception:
        return None


def wait_for_runs(api: AirflowApi, runs: list[tuple[str, str]], *, deadline: float) -> list[str]:
    """Wait (until the monotonic ``deadline``) for every ``(dag_id, run_id)`` to end; return the ones that did not."""
    pending = list(runs)
    while pending and time.monotonic() < deadline:
        pending = [(d, r) for d, r in pending if run_state(api, d, r) not in TERMINAL_RUN_STATES]
        if pending:
            time.sleep(3.0)
    return [f"{d}/{r}" for d, r in pending]
