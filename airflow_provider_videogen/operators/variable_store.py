"""Where a task that starts in the triggerer keeps its submission markers: Airflow Variables.

The one-bill promise rests on markers written before and after the create request (the
in-flight marker, the submission record, the spend reservation: :mod:`.reattach`,
:mod:`airflow_provider_videogen.spend`). A task that runs in a worker keeps them in the task
state store. A trigger cannot: on Airflow 3.3.2 the triggerer answers Variable, XCom, connection
and asset-state-store requests, not task-state-store ones (a request it does not know is dropped
and the caller waits forever). Variables are the durable store both sides reach: rows of the
same metadata database, written through the same execution API, kept across retries, clears and
restarts of every component, and never cleared by Airflow.

Each task instance (DAG, run, task, map index) gets its own keys, named after a digest of that
identity so that any run id fits the 250 characters of a Variable key:
``videogen_state__<digest>__<key>``. The value is JSON with the identity beside the data, so an
operator can tell what a key belongs to (the Variables page, ``airflow variables list``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: Prefix of every Variable this module writes.
KEY_PREFIX = "videogen_state__"


def identity_digest(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> str:
    """A short stable digest of a task instance's identity (not a secret: a name)."""
    text = json.dumps([dag_id, run_id, task_id, -1 if map_index is None else int(map_index)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class VariableStateStore:
    """The task state store's ``get``/``set``/``delete`` over Airflow Variables, for one task instance.

    Works in a worker and in the triggerer (from a thread there: the sync SDK calls are bridged to
    the triggerer's event loop). ``retention`` is accepted for the task state store's signature
    and ignored: a Variable stays until deleted.
    """

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int | None) -> None:
        self.identity = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index}
        self._prefix = f"{KEY_PREFIX}{identity_digest(dag_id, run_id, task_id, map_index)}__"

    @classmethod
    def for_ti(cls, ti: Any) -> VariableStateStore:
        map_index = getattr(ti, "map_index", None)
        return cls(ti.dag_id, ti.run_id, ti.task_id, -1 if map_index is None else map_index)

    def variable_key(self, key: str) -> str:
        return self._prefix + key

    def get(self, key: str, default: Any = None) -> Any:
        from airflow.sdk import Variable

        raw = Variable.get(self.variable_key(key), default=None)
        if raw is None:
            return default
        try:
            document = json.loads(raw)
        except (TypeError, ValueError):
            raise ValueError(f"Variable {self.variable_key(key)!r} is not the JSON this provider writes") from None
        if not isinstance(document, dict) or document.get("task_instance") != self.identity:
            raise ValueError(
                f"Variable {self.variable_key(key)!r} belongs to another task instance "
                f"({document.get('task_instance') if isinstance(document, dict) else '?'}); not using it"
            )
        return document.get("value", default)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        from airflow.sdk import Variable

        document = {"task_instance": self.identity, "value": value}
        Variable.set(
            self.variable_key(key),
            json.dumps(document, sort_keys=True),
            description=f"airflow-provider-videogen submission state of {self.identity} (do not edit)",
        )

    def delete(self, key: str) -> None:
        from airflow.sdk import Variable

        Variable.delete(self.variable_key(key))

    def where(self, key: str) -> str:
        """Where a human finds this key in the Airflow UI (named in the messages that ask them to act)."""
        return f"(the Airflow Variable {self.variable_key(key)!r}: Admin -> Variables)"


class EitherStore:
    """Markers of a task that may have run in either mode: write to one store, read from both.

    A DAG may switch ``start_from_trigger`` on or off while a run is in flight; the retry then
    looks in the other mode's store. Reads try ``primary`` then ``secondary``; writes go to
    ``primary``; deletes go to both, so that a marker found in the other store cannot outlive
    the record that answers it (which would make every later try refuse).
    """

    def __init__(self, primary: Any, secondary: Any) -> None:
        self.primary = primary
        self.secondary = secondary

    def get(self, key: str, default: Any = None) -> Any:
        value = self.primary.get(key)
        if value is None:
            value = self.secondary.get(key)
        return default if value is None else value

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.primary.set(key, value, retention=retention)

    def delete(self, key: str) -> None:
        self.primary.delete(key)
        if self.secondary.get(key) is not None:
            self.secondary.delete(key)
