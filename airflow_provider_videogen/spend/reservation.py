"""What a task instance remembers about its reservation, and how reservation ids are made.

**Ids unique across deployments and run incarnations.** A reservation id is
``dag_id/run_id/task_id/map_index#n.<nonce>``: ``n`` counts this task instance's reservations,
and ``nonce`` is random, drawn by the first try and kept in the task state store (which belongs
to one deployment's one DAG run). Two deployments sharing a budget ``name``, or a run deleted and
re-created with the same id, never share an id; the ledger also refuses to adopt an existing
entry for a reservation it did not expect to exist.

Without a task state store (``dag.test()`` without one, a bare ``execute``) every try draws a new
nonce, so every try takes a new reservation: a try that dies holding one leaves it held.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from airflow_provider_videogen.spend.ledger_document import EntryState

#: Task state store key of the task instance's current reservation.
SPEND_KEY = "videogen_spend_reservation"


class SpendRecord(BaseModel):
    """What the task state store keeps about this task instance's reservation (ids and amounts)."""

    model_config = ConfigDict(frozen=True)

    reservation_id: str
    period_id: str
    budget: str
    seq: int
    state: EntryState
    estimate: Decimal
    #: The request this reservation was taken for (``None``: written by an older version).
    fingerprint: str | None = None
    #: Random, drawn by this task instance's first reservation; part of every reservation id.
    nonce: str | None = None
    #: A create may have been sent under this reservation (unknown for older records: assume so).
    sent: bool = True


def _load(raw: Any) -> SpendRecord | None:
    if not raw:
        return None
    try:
        return SpendRecord.model_validate(raw)
    except ValueError:
        return None


def task_instance_key(context: Any) -> str:
    """``dag_id/run_id/task_id/map_index``: the same for every try of one task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{-1 if map_index is None else map_index}"


def new_nonce() -> str:
    """64 random bits: what tells apart two deployments' (or two run incarnations') reservations."""
    return secrets.token_hex(8)
