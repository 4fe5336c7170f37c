"""Check a decorator's literal arguments when the DAG file is parsed, with the request models' own limits.

A ``@task.videogen(duration=99)`` fails at import of the DAG file, naming the field, the value
and the allowed range, like a ``VideoGenerationOperator(duration=99)``: not at 3 a.m. when the
task runs. The check runs in the decorator factory (``@task.videogen(...)``), so it covers a task
that is only mapped (``.expand()`` builds no operator until it runs). Templated or missing
values are left for execute, where the request is validated again in full.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.completion import check_poll_interval
from airflow_provider_videogen.deadlines import check_wait_timeout
from airflow_provider_videogen.operators.video_task import has_template, validate
from airflow_provider_videogen.spend.guard import check_max_credits

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import BaseModel


def check_at_parse(
    model_cls: type[BaseModel],
    what: str,
    request_fields: Sequence[str],
    kwargs: dict[str, Any],
    *,
    prompts: dict[str, str],
    built: dict[str, Any] | None = None,
) -> None:
    """Validate the literal request fields in ``kwargs`` (with stand-in ``prompts``) and the numeric options.

    :param built: fields already converted for the model, added after the template check (the
        remix's references, previewed without reading any file).
    :raises InvalidRequestError: naming each field, its value and the allowed values.
    """
    check_max_credits(kwargs.get("max_credits"))
    if "poll_interval" in kwargs and not has_template(kwargs["poll_interval"]):
        check_poll_interval(kwargs["poll_interval"])
    for name in ("timeout", "max_poll_interval"):  # not templated: a bad one would crash after the create
        if kwargs.get(name) is not None:
            check_wait_timeout(kwargs[name], name)
    fields = {name: kwargs[name] for name in request_fields if kwargs.get(name) is not None}
    if fields.get("model") is None or any(has_template(value) for value in fields.values()):
        return  # the model decides the limits, or a value is only known when the task runs
    for name, stand_in in prompts.items():
        fields.setdefault(name, stand_in)
    fields.update(built or {})
    validate(model_cls, what, **fields)
