"""``@task.videogen``: a TaskFlow function returns the prompt (or the whole request); the task renders it.

.. code-block:: python

    from airflow.sdk import task


    @task.videogen(model="veo3.1-fast", duration=8, max_credits=60, retries=2)
    def clip(topic: str) -> str:
        return f"A slow aerial shot of {topic} at dawn"


    clip.expand(topic=["a harbour", "a forest"])

The function returns a prompt string, a ``dict`` of request fields (merged over the decorator's),
or a whole :class:`~airflow_provider_videogen.models.GenerationRequest` (used as it is). The
task is a :class:`~airflow_provider_videogen.operators.videogen.VideoGenerationOperator` whose
request the function wrote: same validation, spend guard, deferral, re-attach, cancel on kill,
lineage, "Video" link and XCom result.

Rules (see :mod:`.function_request`): the function runs until it has produced a valid request,
and never again for that task instance: a retry or clear re-uses what it returned, and so
re-attaches to the video that request paid for. Literal decorator arguments are checked when the
DAG file is parsed, against the same model that checks the request at execute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION

from airflow_provider_videogen.decorators.function_request import FunctionRequestMixin, not_a_request, unknown_keys
from airflow_provider_videogen.decorators.parse_checks import check_at_parse
from airflow_provider_videogen.hooks.redaction import mask_links_in
from airflow_provider_videogen.models import GenerationRequest
from airflow_provider_videogen.operators.videogen import REQUEST_FIELDS, VideoGenerationOperator

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from airflow.sdk.bases.decorator import TaskDecorator

__all__ = ["videogen_task"]

#: Stands in for the prompt the function will return, so literal fields can be checked at parse.
PARSE_PROMPT = "(the prompt the decorated function returns)"


class _VideoGenerationDecoratedOperator(FunctionRequestMixin, DecoratedOperator, VideoGenerationOperator):
    """The operator behind ``@task.videogen``: the function's result is the request."""

    custom_operator_name = "@task.videogen"
    request_fields = REQUEST_FIELDS
    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *VideoGenerationOperator.template_fields)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **VideoGenerationOperator.template_fields_renderers,
    }

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        model: str | None = None,
        prompt: Any = SET_DURING_EXECUTION,
        **kwargs: Any,
    ) -> None:
        # Again here, for ``.override(duration=...)``, which bypasses the decorator factory's check.
        check_literals({"model": model, **kwargs})
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            model=model,
            prompt=prompt,
            **kwargs,
        )

    def fields_from_result(self, result: Any) -> dict[str, Any]:
        if isinstance(result, GenerationRequest):  # a whole request: exactly that, nothing merged
            dumped = result.model_dump()
            return {name: dumped.get(name) for name in REQUEST_FIELDS}
        if isinstance(result, str):
            return {"prompt": result}
        if isinstance(result, dict):
            unknown = set(result) - set(REQUEST_FIELDS)
            if unknown:
                raise unknown_keys(self.custom_operator_name, unknown, REQUEST_FIELDS)
            return dict(result)
        raise not_a_request(
            self.custom_operator_name, result, "a prompt string, a dict of request fields or a GenerationRequest"
        )

    def _set_fields(self, fields: dict[str, Any]) -> None:
        super()._set_fields(fields)
        # A signed image link the function returned stays out of logs and the Rendered Template tab
        # (written after execution): its path and query are registered with the secrets masker,
        # as the operator does for its own rendered fields; so is a callback token.
        mask_links_in(self.image_urls, self.callback_url, self.extra_params)

    def storable_fields(self) -> dict[str, Any]:
        # The validated request's JSON form round-trips to the same request, so to the same fingerprint.
        dumped: dict[str, Any] = self.build_request().model_dump(mode="json")
        return {name: dumped.get(name) for name in REQUEST_FIELDS}


def check_literals(kwargs: dict[str, Any]) -> None:
    """The literal request fields and options among ``kwargs``, checked with the request model's limits."""
    check_at_parse(GenerationRequest, "GenerationRequest", REQUEST_FIELDS, kwargs, prompts={"prompt": PARSE_PROMPT})


def videogen_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """``@task.videogen(model=..., duration=..., max_credits=..., ...)``: see the module docstring.

    Takes every argument of ``VideoGenerationOperator`` except ``prompt`` (the function returns
    it) and of ``BaseOperator`` (``retries``, ``pool``...). Literal request fields are validated
    now, when the DAG file is parsed.
    """
    check_literals(kwargs)
    return task_decorator_factory(
        python_callable=python_callable,
        # The function's return annotation describes the request, not the task's result: a
        # ``-> dict`` must not unroll the video result into one XCom per key.
        multiple_outputs=kwargs.pop("multiple_outputs", False),
        decorated_operator_class=_VideoGenerationDecoratedOperator,
        **kwargs,
    )
