"""Start a video task in the triggerer: no worker workload at all for a video that succeeds.

With ``start_from_trigger=True`` the scheduler does not queue the task for a worker; it creates
this trigger straight away (Airflow 3.3 renders a started task's context in the triggerer). The
trigger then does, in the triggerer, what the operator's ``execute`` does in a worker, with the
same code: it builds the operator again from its arguments (:mod:`..operators.start_args`),
renders its templates, validates the request, runs the spend guard and the submission guard
(markers in Airflow Variables, :mod:`..operators.variable_store`, since a trigger cannot reach
the task state store), submits or re-attaches, and then polls with
:class:`~airflow_provider_videogen.triggers.videogen.VideoTaskTrigger`, which ends the task here
on success (the XCom result written first, then ``TaskSuccessEvent``: see ``task_success``).

One triggerer at a time does it (:mod:`.start_claim`: Airflow may briefly run a trigger on two
triggerers when one's heartbeat is late). Whenever that cannot be done as safely as in a worker,
the trigger does not try: it hands the task to a worker (an event with :data:`START_IN_WORKER`),
whose ``execute_complete`` runs the ordinary ``execute``, re-attaching to whatever was already
sent through the same markers. That is the case for: a listener plugin (OpenLineage...)
registered, which would never see a task that never ran in a worker; arguments the triggerer
cannot resolve; and any failure before the wait (bad input, a refused budget, an uncertain earlier
submission...), so that every failure keeps the worker's messages and retry rules. Failures of the
render itself resume in a worker too.

The blocking work (HTTP create, S3 ledger, Variables) runs in a thread, off the triggerer's loop.
Serialized, the trigger holds the operator class and, for a plain task, its arguments as given
in the DAG file (templates unrendered): no key, no link, nothing the DAG file does not hold.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_videogen.hooks.redaction import redact_links_in
from airflow_provider_videogen.operators.start_args import (
    CannotStartInTriggerer,
    mapped_arguments,
    operator_parameters,
    resolve_references,
)
from airflow_provider_videogen.triggers.start_claim import ClaimNotGranted, StartClaim, StopBeforeSending
from airflow_provider_videogen.triggers.task_success import success_with_result, write_xcom

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: Key of the event that hands a task to a worker; its value says why (logged there).
START_IN_WORKER = "videogen_start_in_worker"


#: Threads that run start triggers' blocking work (one per task starting at the same moment).
START_THREADS = 32


#: How long ``on_kill`` waits for a start still in its thread (Airflow cuts ``on_kill`` at 30 s).
ON_KILL_START_WAIT = 20.0


@cache
def start_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=START_THREADS, thread_name_prefix="videogen-start")


def start_in_worker_event(reason: str) -> TriggerEvent:
    return TriggerEvent({START_IN_WORKER: redact_links_in(reason)[:500]})


def core_listeners_active() -> bool:
    """A listener plugin is registered in this triggerer (the worker's plugins are the same)."""
    try:
        from airflow.listeners.listener import get_listener_manager

        return bool(get_listener_manager().has_listeners)
    except Exception:
        return True


class TriggererTaskInstance:
    """The task instance as the operator's code sees it in the triggerer.

    The triggerer's task instance carries the *serialized* task, on which Airflow's own
    ``xcom_push`` fails; XComs are written through ``BaseXCom.set`` instead (the triggerer
    answers it). Everything else is the triggerer's task instance.
    """

    def __init__(self, ti: Any) -> None:
        self._ti = ti

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ti, name)

    def xcom_push(self, key: str, value: Any) -> None:
        write_xcom(self._ti, key, value)


class VideoStartTrigger(BaseTrigger):
    """Build, submit and wait for a video task that starts in the triggerer.

    :param operator_class: import path of the video operator class.
    :param operator_kwargs: the operator's arguments as given in the DAG file, for a plain task;
        ``None`` for a mapped task, whose arguments are read from the serialized task.
    """

    def __init__(self, *, operator_class: str, operator_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.operator_class = operator_class
        self.operator_kwargs = operator_kwargs
        self._context: Any = None
        #: The polling trigger once the remote task is known (for ``on_kill``).
        self._polling: BaseTrigger | None = None
        #: The start running in the pool (it goes on after a cancel, up to its create's answer).
        self._starting: Future[Any] | None = None
        #: Set when the triggerer cancels this trigger: the thread running ``execute`` stops before sending.
        self._cancelled = threading.Event()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"operator_class": self.operator_class, "operator_kwargs": self.operator_kwargs},
        )

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Airflow hands the started task's context here; the operator renders its own fields with it."""
        self._context = context
        super().render_template_fields(context, jinja_env)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            # The start mostly waits (Variables, the claim's settle, the create): in a pool of its
            # own, sized for that, not asyncio's default (min(32, cores + 4): 6 threads on 2 cores,
            # which 200 tasks starting at once would queue behind).
            context = contextvars.copy_context()  # the trigger's log routing goes with it
            self._starting = start_pool().submit(context.run, self._start)
            started = await asyncio.wrap_future(self._starting)
        except asyncio.CancelledError:
            self._cancelled.set()  # the thread goes on; it checks this before sending (start_claim)
            raise
        except (CannotStartInTriggerer, ClaimNotGranted) as exc:
            self.log.info("Starting this video task in a worker instead: %s", exc)
            yield start_in_worker_event(str(exc))
            return
        except Exception as exc:  # every failure keeps the worker's messages and retry rules
            self.log.warning("Could not start the video task here (%s); a worker starts it", type(exc).__name__)
            yield start_in_worker_event(f"{type(exc).__name__}: {exc}")
            return
        if isinstance(started, BaseTrigger):
            self._polling = started
            started.task_instance = self.task_instance  # it writes the result (task_success)
            async for event in started.run():
                yield event
                return
            return
        ended = await success_with_result(self, started, self.log)
        yield ended if ended is not None else start_in_worker_event("the result could not be written from here")

    async def on_kill(self) -> None:
        """A user marked the task failed/success or cleared it: as a deferred task's trigger does.

        Once the remote task is known, its polling trigger cancels it (where the connection has a
        ``cancel_path``) or says it keeps rendering and is billed; a start still in its thread is
        waited for first. Before the create there is nothing to name (the thread stops before
        sending once cancelled).
        """
        if self._polling is None and self._starting is not None:
            # Killed while the start's thread was between the create and the deferral (pushing the
            # remote id, say): the create went out and the thread is about to hand over the
            # polling trigger. Wait for it (within Airflow's on_kill timeout) and cancel through it.
            try:
                started = await asyncio.wait_for(asyncio.wrap_future(self._starting), ON_KILL_START_WAIT)
            except Exception:  # it stopped before sending (cancelled), or failed: nothing to name
                started = None
            if isinstance(started, BaseTrigger):
                self._polling = started
        if self._polling is not None:
            await self._polling.on_kill()
            return
        self.log.warning(
            "The task was stopped before its remote task was known: nothing to cancel. A create request "
            "already sent keeps rendering on the gateway and is billed."
        )

    # ---- in a thread ---------------------------------------------------------------------------

    def _start(self) -> Any:
        """Run the operator's ``execute`` up to its deferral: the polling trigger, or a result."""
        from airflow.sdk.exceptions import TaskDeferred

        from airflow_provider_videogen.operators.variable_store import VariableStateStore

        ti = self.task_instance
        if ti is None or self._context is None:
            raise CannotStartInTriggerer("the triggerer gave no task context (Airflow older than 3.3?)")
        if (getattr(ti, "try_number", 1) or 1) > 1:
            # A retry or a clear: the try that paid may have kept its markers in the task state
            # store (the DAG switched modes since), which only a worker can read.
            raise CannotStartInTriggerer("a retry or a clear runs in a worker, which reads the markers of either mode")
        if core_listeners_active():
            raise CannotStartInTriggerer("a listener plugin (OpenLineage...) is registered; it sees worker tasks only")
        operator = self._build_operator(ti)
        self._render_operator(operator)
        store = VariableStateStore.for_ti(ti)
        claim = StartClaim(store)
        claim.acquire(self.log, self._cancelled)
        try:
            context = dict(self._context)
            here = TriggererTaskInstance(ti)
            guarded = StopBeforeSending(store, self._cancelled)
            context.update(task=operator, ti=here, task_instance=here, task_state_store=guarded)
            try:
                return operator._execute(context)
            except TaskDeferred as deferred:
                return deferred.trigger
        finally:
            claim.release()

    def _render_operator(self, operator: Any) -> None:
        """Render the operator's templates as strictly as possible, or leave the task to a worker.

        The operator is rebuilt without its DAG, so the DAG's own Jinja settings
        (``user_defined_macros`` and ``_filters``, ``template_undefined``, native rendering) are not
        here. Rendering with ``StrictUndefined`` makes anything that needs them fail loudly instead
        of rendering blank (``An ad for {{ brand }}`` would be paid for as ``An ad for ``); the
        worker then renders it with the DAG's settings.
        """
        import jinja2
        from airflow.sdk.definitions._internal.templater import create_template_env

        dag = getattr(self.task, "dag", None)
        if getattr(dag, "render_template_as_native_obj", False):
            raise CannotStartInTriggerer("the DAG renders templates as native objects")
        env = create_template_env(template_undefined=jinja2.StrictUndefined)
        try:
            operator.render_template_fields(self._context, jinja_env=env)
        except Exception as exc:
            raise CannotStartInTriggerer(
                f"its templates need the DAG's own Jinja settings ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    def _build_operator(self, ti: Any) -> Any:
        from airflow.sdk.module_loading import import_string

        from airflow_provider_videogen.operators.video_task import BaseVideoTaskOperator

        cls = import_string(self.operator_class)
        if not (isinstance(cls, type) and issubclass(cls, BaseVideoTaskOperator)) or not cls.can_start_in_triggerer:
            raise CannotStartInTriggerer(f"{self.operator_class} cannot start in the triggerer")

        def pull(task_id: str, key: str) -> Any:
            return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=-1)

        if self.operator_kwargs is not None:
            arguments = resolve_references(self.operator_kwargs, pull)
        else:
            arguments = mapped_arguments(self.task, ti.map_index, pull)
        names = operator_parameters(cls)
        arguments = {k: v for k, v in arguments.items() if k in names}
        arguments["start_from_trigger"] = False  # this instance runs here; it must not start another
        arguments.setdefault("end_from_trigger", True)  # and, unless told otherwise, it ends here too
        return cls(task_id=ti.task_id, **arguments)
