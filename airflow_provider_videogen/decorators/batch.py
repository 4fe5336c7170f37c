"""``@task.videogen_batch``: a TaskFlow function returns the batch's requests; one task submits them all.

.. code-block:: python

    from airflow.sdk import task


    @task.videogen_batch(model="veo3.1-fast", duration=4, max_credits=40)
    def clips(topics: list[str]) -> list[str]:
        return [f"A slow aerial shot of {topic} at dawn" for topic in topics]


    clips.expand(topics=[["a harbour", "a forest"], ["a desert", "a glacier"]])

The function returns a list of prompts or of dicts of request fields (each merged over the
decorator's fields). The task is a
:class:`~airflow_provider_videogen.operators.batch.VideoGenerationBatchOperator` whose requests the
function wrote: one worker workload for the batch, each item validated, guarded, submitted once
and polled by one trigger, the list of results as XCom.

As for ``@task.videogen`` (:mod:`.function_request`), the function runs until it has produced a
valid batch and never again for that task instance: a retry or clear re-uses the stored list, so
each item re-attaches to the video it paid for (items are matched by position).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION

from airflow_provider_videogen.decorators.function_request import FunctionRequestMixin, not_a_request
from airflow_provider_videogen.decorators.videogen import check_literals
from airflow_provider_videogen.operators.batch import SHARED_FIELDS, VideoGenerationBatchOperator
from airflow_provider_videogen.operators.videogen import REQUEST_FIELDS, generation_request

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from airflow.sdk.bases.decorator import TaskDecorator

__all__ = ["videogen_batch_task"]


class _ValidatedBatch(VideoGenerationBatchOperator):
    """The batch operator with ``build_request``: what the decorators' mixin validates before storing."""

    def build_request(self) -> list[Any]:
        return [generation_request(fields) for fields in self.item_fields()]


class _VideoBatchDecoratedOperator(FunctionRequestMixin, DecoratedOperator, _ValidatedBatch):
    """The operator behind ``@task.videogen_batch``: the function's result is the list of requests."""

    custom_operator_name = "@task.videogen_batch"
    request_fields = ("requests", *SHARED_FIELDS)
    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *VideoGenerationBatchOperator.template_fields)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **VideoGenerationBatchOperator.template_fields_renderers,
    }
    #: One batch task, one function result: no per-item decorator machinery.
    can_start_in_triggerer = False

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        requests: Any = SET_DURING_EXECUTION,
        **kwargs: Any,
    ) -> None:
        check_literals(kwargs)  # again here, for ``.override(duration=...)``
        super().__init__(
            python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, requests=requests, **kwargs
        )

    def fields_from_result(self, result: Any) -> dict[str, Any]:
        if isinstance(result, (list, tuple)):
            return {"requests": list(result)}  # each item is checked by item_fields (names the item)
        raise not_a_request(self.custom_operator_name, result, "a list of prompts or of dicts of request fields")

    def storable_fields(self) -> dict[str, Any]:
        # Each item's validated request in JSON form: it round-trips to the same request, so to
        # the same fingerprint, whatever the decorator's defaults become.
        requests = []
        for request in self.build_request():
            dumped = request.model_dump(mode="json")
            requests.append({name: dumped[name] for name in REQUEST_FIELDS if dumped.get(name) is not None})
        return {"requests": requests}


def videogen_batch_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """``@task.videogen_batch(model=..., duration=..., ...)``: see the module docstring.

    Takes every argument of ``VideoGenerationBatchOperator`` except ``requests`` (the function
    returns them) and of ``BaseOperator``. Literal request fields are validated now.
    """
    check_literals(kwargs)
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=kwargs.pop("multiple_outputs", False),
        decorated_operator_class=_VideoBatchDecoratedOperator,
        **kwargs,
    )
