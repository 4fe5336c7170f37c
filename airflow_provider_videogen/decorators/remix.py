"""``@task.videogen_remix``: a TaskFlow function returns the prompts and references of a 15 s remix.

.. code-block:: python

    from airflow.sdk import task


    @task.videogen_remix(model="veo_3_1-fast-remix", size="1280x720", retries=2)
    def story(product: str) -> dict:
        return {
            "prompt": f"{product} on a kitchen table, morning light",
            "prompt_extend": "the camera pulls back to show the whole kitchen",
            "input_references": ["/data/product.png"],
        }

The function returns a ``dict`` of request fields (``prompt``, ``prompt_extend``,
``input_references``, ``size``, ``model``; merged over the decorator's), a prompt string (the
first 8 s; ``prompt_extend`` then comes from the decorator) or a whole
:class:`~airflow_provider_videogen.models.RemixRequest` of URL or data-URI references. The task
is a :class:`~airflow_provider_videogen.operators.remix.VideoRemixOperator` (validation, spend
guard, deferral, re-attach, ``on_extend_failure``...), and the function runs once per task
instance (see :mod:`.function_request`).

References are kept for a retry in the form that rebuilds the same request: paths, URLs,
``ObjectStoragePath`` (as its ``scheme://conn@bucket/key`` string) and data URIs as they are;
``bytes`` and file ``RemixReference`` objects become data URIs (each image is at most 10 MB, kept
in the task state store: prefer a path or object storage for large images). Files are read when
the request is built, at each try, and fingerprinted by content.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION

from airflow_provider_videogen.decorators.function_request import FunctionRequestMixin, not_a_request, unknown_keys
from airflow_provider_videogen.decorators.parse_checks import check_at_parse
from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.models import RemixReference, RemixRequest
from airflow_provider_videogen.models.catalogue import is_first_last_remix_model
from airflow_provider_videogen.operators.remix import (
    REQUEST_FIELDS,
    VideoRemixOperator,
    _literal_references,
    mask_reference_signatures,
)
from airflow_provider_videogen.references import InvalidReferenceError, as_reference_list, data_uri, preview_reference

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from airflow.sdk.bases.decorator import TaskDecorator

__all__ = ["videogen_remix_task"]

#: Stands in for the frames a first/last-frame model needs when the function returns them (never read).
STAND_IN_FRAME = "first-frame.png"

#: Stand-ins for the prompts the function will return, so literal fields can be checked at parse.
PARSE_PROMPTS = {
    "prompt": "(the first 8 s, returned by the decorated function)",
    "prompt_extend": "(the last 7 s, returned by the decorated function)",
}


class _VideoRemixDecoratedOperator(FunctionRequestMixin, DecoratedOperator, VideoRemixOperator):
    """The operator behind ``@task.videogen_remix``: the function's result is the request."""

    custom_operator_name = "@task.videogen_remix"
    request_fields = REQUEST_FIELDS
    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *VideoRemixOperator.template_fields)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **VideoRemixOperator.template_fields_renderers,
    }

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        model: str | None = None,
        prompt: Any = SET_DURING_EXECUTION,
        prompt_extend: Any = SET_DURING_EXECUTION,
        **kwargs: Any,
    ) -> None:
        # Again here, for ``.override(size=...)``, which bypasses the decorator factory's check.
        check_literals({"model": model, **kwargs})
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            model=model,
            prompt=prompt,
            prompt_extend=prompt_extend,
            **kwargs,
        )

    def fields_from_result(self, result: Any) -> dict[str, Any]:
        if isinstance(result, RemixRequest):
            fields: dict[str, Any] = result.model_dump(exclude={"input_references"})
            fields["input_references"] = list(result.input_references)
        elif isinstance(result, str):
            fields = {"prompt": result}
        elif isinstance(result, dict):
            unknown = set(result) - set(REQUEST_FIELDS)
            if unknown:
                raise unknown_keys(self.custom_operator_name, unknown, REQUEST_FIELDS)
            fields = dict(result)
        else:
            raise not_a_request(
                self.custom_operator_name, result, "a dict of request fields, the first prompt string or a RemixRequest"
            )
        if "input_references" in fields:
            fields["input_references"] = storable_references(fields["input_references"])
        return fields

    def storable_fields(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in REQUEST_FIELDS}
        fields["input_references"] = storable_references(self.input_references)
        return fields

    def _set_fields(self, fields: dict[str, Any]) -> None:
        super()._set_fields(fields)
        # A signed reference link the function returned stays out of the logs, as a templated one does.
        mask_reference_signatures(self.input_references)


def storable_references(value: Any) -> list[str]:
    """Each reference as the string that rebuilds it (see the module docstring); an error names a bad one."""
    out: list[str] = []
    for index, item in enumerate(as_reference_list(value), start=1):
        try:
            out.append(_storable(item))
        except InvalidReferenceError as exc:
            raise InvalidRequestError(
                "RemixRequest", [("input_references", f"input_references #{index}: {exc}")]
            ) from None
    return out


def _storable(item: Any) -> str:
    if isinstance(item, RemixReference):
        return item.value if item.kind != "file" else data_uri(item.content or b"")
    if isinstance(item, (bytes, bytearray, memoryview)):
        return data_uri(bytes(item))
    if isinstance(item, str):
        return item
    if isinstance(item, os.PathLike) or hasattr(item, "protocol"):  # a local path or an ObjectStoragePath
        return str(item)
    raise InvalidReferenceError(
        f"input_reference of type {type(item).__name__} is not supported; return a local path, an "
        "ObjectStoragePath, an http(s) URL, a data:image/...;base64, URI or bytes"
    )


def check_literals(kwargs: dict[str, Any]) -> None:
    """The literal request fields and options among ``kwargs`` (references only by name: no file is read)."""
    references = kwargs.get("input_references")
    if references is not None and _literal_references(references):
        try:
            previews = [preview_reference(r) for r in as_reference_list(references)]
        except InvalidReferenceError as exc:
            raise InvalidRequestError("RemixRequest", [("input_references", str(exc))]) from None
    else:  # returned by the function or templated: their number is not known yet, the rest is checked
        model = kwargs.get("model")
        previews = (
            [preview_reference(STAND_IN_FRAME)] if isinstance(model, str) and is_first_last_remix_model(model) else []
        )
    built = {"input_references": previews}
    literal = {name: value for name, value in kwargs.items() if name != "input_references"}
    check_at_parse(RemixRequest, "RemixRequest", REQUEST_FIELDS, literal, prompts=PARSE_PROMPTS, built=built)


def videogen_remix_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """``@task.videogen_remix(model=..., size=..., ...)``: see the module docstring.

    Takes every argument of ``VideoRemixOperator`` (``prompt`` and ``prompt_extend`` may come from
    the function) and of ``BaseOperator``. Literal fields are validated when the DAG is parsed;
    reference files are only checked by name then, and read when the task runs.
    """
    check_literals(kwargs)
    return task_decorator_factory(
        python_callable=python_callable,
        # The function's return annotation describes the request, not the task's result: a
        # ``-> dict`` must not unroll the video result into one XCom per key.
        multiple_outputs=kwargs.pop("multiple_outputs", False),
        decorated_operator_class=_VideoRemixDecoratedOperator,
        **kwargs,
    )
