"""Fixtures of the hostile audit of ``release-held``: the spend tests' budget on SeaweedFS."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.spend.conftest import with_budget
from tests.spend.test_held_reservations import DAG_ID

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["forget_our_records", "with_budget"]


@pytest.fixture
def forget_our_records(airflow_db: object) -> Iterator[None]:
    """Delete the store rows these tests wrote: ``uncertain held --dag-id`` in other tests lists the whole DAG."""
    from airflow.models.task_state_store import TaskStateStoreModel as Row
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    with create_session() as session:
        before = set(session.scalars(select(Row.run_id).where(Row.dag_id == DAG_ID)))
    yield
    with create_session() as session:
        session.execute(delete(Row).where(Row.dag_id == DAG_ID, Row.run_id.not_in(before)))
