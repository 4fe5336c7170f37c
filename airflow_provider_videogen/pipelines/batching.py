"""Generate a plan's clips one per task (the default) or ``batch_size`` per task (issue 23's batch mode).

Why two mapped tasks: a DAG's shape is fixed when its file is parsed, but ``batch_size`` is a run
parameter. So each example DAG has both generation tasks, ``generate_clip``
(:class:`~airflow_provider_videogen.operators.videogen.VideoGenerationOperator`, one instance per
clip) and ``generate_clip_batch``
(:class:`~airflow_provider_videogen.operators.batch.VideoGenerationBatchOperator`, one instance
per batch), and two small tasks hand the plan to one of them and an empty list to the other: a
mapped task over an empty list is skipped by the scheduler, no worker starts for it. (One task
cannot do it: a mapped task expands over one task's return value, and a return value cannot be
empty for one generation task and not for the other. The two cost two short task starts a run.)

The ``videogen_api`` pool counts task instances, so in batch mode one slot submits a whole batch:
size ``batch_size`` with the gateway's rate limit in mind.

Why a run parameter and not a second DAG: the mode changes how the clips are submitted, not what
is asked for. The plan, its fingerprint and so the archive keys are the same in both modes, so a
day archived one way is recognised as archived the other way, and nothing is paid twice.

Collecting: a batch instance returns the list of its clips' results, in the order of its
requests, and those requests are the plan's variants ``[j * batch_size, (j + 1) * batch_size)``
(:func:`plan_batches`): :func:`~.manifest.finished_batch_results` tags each with its variant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.operators.batch import MAX_BATCH_SIZE
from airflow_provider_videogen.pipelines.prompts import generation_kwargs

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The one-clip-per-task generation task of the example DAGs.
CLIP_TASK = "generate_clip"
#: The batch generation task of the example DAGs (``batch_size`` > 0).
BATCH_TASK = "generate_clip_batch"
#: The operator argument that is not a request field: every clip of a batch shares the batch's.
_OPERATOR_ONLY = ("poll_interval",)


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as an int, or :class:`InvalidRequestError` naming it and the allowed range (nothing sent yet)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidRequestError(
            "batch_size",
            [
                (
                    "batch_size",
                    f"batch_size={batch_size!r}; allowed: 0 (one task per clip) or 1 to {MAX_BATCH_SIZE} "
                    "(clips submitted that many per task)",
                )
            ],
        )
    return batch_size


def plan_batches(plan: Sequence[dict[str, Any]] | None, batch_size: int) -> list[list[dict[str, Any]]]:
    """The plan's variants, ``batch_size`` per batch, in plan order; none with ``batch_size`` 0 or no plan."""
    size = check_batch_size(batch_size)
    if not size or not plan:
        return []
    return [list(plan[start : start + size]) for start in range(0, len(plan), size)]


def clip_task(batch_size: int) -> str:
    """The task that generates the clips with this ``batch_size`` (named by the manifest when one is missing)."""
    return BATCH_TASK if check_batch_size(batch_size) else CLIP_TASK


def one_per_task(plan: Sequence[dict[str, Any]] | None, batch_size: int) -> list[dict[str, Any]]:
    """``generate_clip``'s keyword arguments, one per variant; none in batch mode (the task is then skipped)."""
    if check_batch_size(batch_size) or not plan:
        return []
    return [generation_kwargs(variant) for variant in plan]


def batch_kwargs(plan: Sequence[dict[str, Any]] | None, batch_size: int) -> list[dict[str, Any]]:
    """``generate_clip_batch``'s keyword arguments, one per batch; none with ``batch_size`` 0.

    Each request is the variant's validated request fields (model, prompt, seed, ...); the poll
    interval is an operator argument, the same for every clip of a run.
    """
    entries = []
    for batch in plan_batches(plan, batch_size):
        kwargs = [generation_kwargs(variant) for variant in batch]
        requests = [{k: v for k, v in fields.items() if k not in _OPERATOR_ONLY} for fields in kwargs]
        shared = {k: kwargs[0][k] for k in _OPERATOR_ONLY if k in kwargs[0]}
        entries.append({"requests": requests, **shared})
    return entries


def finished_clips(
    ti: Any, plan: Sequence[dict[str, Any]] | None, batch_size: int, *, prefix: str, videogen_conn_id: str
) -> list[dict[str, Any]]:
    """Each clip that rendered, tagged with its variant, from whichever task generated them (see :mod:`.manifest`).

    In batch mode, the clips that rendered in a batch that failed are passed on too (asked at the
    gateway by the ids the batch recorded), so they are archived before their links expire.
    """
    from airflow_provider_videogen.pipelines.manifest import finished_batch_results, finished_results

    if plan is None or not check_batch_size(batch_size):  # no plan: finished_results says so and fails
        return finished_results(ti, CLIP_TASK, plan, kind="clip", prefix=prefix)
    from airflow_provider_videogen.hooks.videogen import VideoGenHook

    hook = VideoGenHook(videogen_conn_id=videogen_conn_id)
    return finished_batch_results(ti, BATCH_TASK, plan_batches(plan, batch_size), kind="clip", prefix=prefix, hook=hook)
