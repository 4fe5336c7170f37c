"""The arguments of a video operator, as a trigger that starts the task in the triggerer sees them.

A task that starts in the triggerer (``start_from_trigger=True``) never has its operator built by a
worker: the trigger builds it again from what the scheduler stored. Two shapes reach it:

* **a plain task**: the operator put its own arguments in its ``start_trigger_args`` when the
  DAG was parsed (:func:`own_arguments`); an argument that is another task's output is stored as
  a reference (:func:`xcom_reference`) and read from XCom in the triggerer;
* **a mapped task**: Airflow keeps the ``partial()`` arguments and the ``expand()`` input on the
  serialized operator; :func:`mapped_arguments` picks this map index's values the way Airflow's
  own expansion does (the last expanded argument varies fastest).

What cannot be resolved safely there (an expansion over a mapped upstream, a ``.map()`` or
``zip()`` of outputs, ``expand_kwargs``) raises :class:`CannotStartInTriggerer`, and the task
starts in a worker instead, as without the option: never a guess at what to pay for.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: How an argument that is another task's output is stored in ``start_trigger_args``.
XCOM_REF = "__videogen_xcom__"


class CannotStartInTriggerer(Exception):
    """This task's arguments cannot be known in the triggerer; it starts in a worker."""


def operator_parameters(cls: type) -> set[str]:
    """Names of the keyword arguments the video operator classes define (not BaseOperator's)."""
    from airflow.sdk import BaseOperator

    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is BaseOperator or not issubclass(klass, BaseOperator) or "__init__" not in vars(klass):
            continue
        for name, param in inspect.signature(vars(klass)["__init__"]).parameters.items():
            if name != "self" and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                names.add(name)
    return names


def xcom_reference(value: Any) -> dict[str, Any] | None:
    """The stored form of a plain ``task.output`` / ``XComArg(task, key)`` argument, or ``None``."""
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    if not isinstance(value, PlainXComArg):
        return None
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    if isinstance(value.operator, MappedOperator):
        raise CannotStartInTriggerer(f"it reads the output of mapped task {value.operator.task_id!r}")
    return {XCOM_REF: {"task_id": value.operator.task_id, "key": value.key}}


def own_arguments(operator: Any) -> dict[str, Any]:
    """The operator's own arguments as given (templates unrendered), for ``start_trigger_args``."""
    from airflow.sdk.definitions._internal.mixins import ResolveMixin

    given: Mapping[str, Any] = getattr(operator, "_BaseOperator__init_kwargs", {})
    names = operator_parameters(type(operator))
    arguments: dict[str, Any] = {}
    for name, value in given.items():
        if name not in names:
            continue
        reference = xcom_reference(value)
        if reference is not None:
            arguments[name] = reference
        elif isinstance(value, ResolveMixin):  # derived outputs, a mapped task group's arguments...
            raise CannotStartInTriggerer(f"argument {name!r} is a derived task output ({type(value).__name__})")
        else:
            arguments[name] = value
    return arguments


def resolve_references(arguments: dict[str, Any], pull: Callable[[str, str], Any]) -> dict[str, Any]:
    """Replace each stored output reference by the value ``pull(task_id, key)`` reads from XCom."""
    resolved: dict[str, Any] = {}
    for name, value in arguments.items():
        if isinstance(value, dict) and set(value) == {XCOM_REF}:
            ref = value[XCOM_REF]
            resolved[name] = pull(str(ref["task_id"]), str(ref["key"]))
        else:
            resolved[name] = value
    return resolved


def expanded_index(lengths: Mapping[str, int], order: list[str], key: str, map_index: int) -> int:
    """The index into argument ``key``'s list for ``map_index``; Airflow's order: the last varies fastest."""
    index = map_index
    for name in reversed(order):
        length = lengths[name]
        if length < 1:
            raise CannotStartInTriggerer(f"expanded argument {name!r} is empty")
        if name == key:
            return index % length
        index //= length
    raise KeyError(key)


def mapped_arguments(task: Any, map_index: int, pull: Callable[[str, str], Any]) -> dict[str, Any]:
    """This map index's arguments of a mapped video operator, from the serialized task.

    ``pull(task_id, key)`` reads an unmapped upstream's XCom. Only ``expand()`` over literal lists
    and over the whole output of an unmapped task is resolved; anything else raises
    :class:`CannotStartInTriggerer`.
    """
    expand_input = task._get_specified_expand_input()
    value = getattr(expand_input, "value", None)
    if type(expand_input).__name__ != "SchedulerDictOfListsExpandInput" or not isinstance(value, dict):
        raise CannotStartInTriggerer(f"its mapping is {type(expand_input).__name__}, not expand() over lists")
    lists: dict[str, list[Any]] = {}
    for name, source in value.items():
        if isinstance(source, (list, tuple)):
            lists[name] = list(source)
            continue
        if type(source).__name__ != "SchedulerPlainXComArg":
            raise CannotStartInTriggerer(f"argument {name!r} expands over a {type(source).__name__}")
        upstream = source.operator
        if getattr(upstream, "is_mapped", False) or type(upstream).__name__.endswith("MappedOperator"):
            raise CannotStartInTriggerer(f"argument {name!r} expands over mapped task {upstream.task_id!r}")
        pulled = pull(upstream.task_id, source.key)
        if not isinstance(pulled, (list, tuple)):
            raise CannotStartInTriggerer(f"argument {name!r}: {upstream.task_id}'s output is not a list")
        lists[name] = list(pulled)
    order = list(value)
    lengths = {name: len(items) for name, items in lists.items()}
    arguments: dict[str, Any] = {}
    for name, given in dict(task.partial_kwargs).items():
        kind = type(given).__name__
        if kind == "SchedulerPlainXComArg":
            arguments[name] = pull(given.operator.task_id, given.key)
        elif "XComArg" in kind:
            raise CannotStartInTriggerer(f"argument {name!r} is a derived task output ({kind})")
        else:
            arguments[name] = given
    for name in order:
        arguments[name] = lists[name][expanded_index(lengths, order, name, map_index)]
    return arguments
