"""Fixtures of the spend tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.spend.ledger import BudgetConfig, S3Ledger
from tests.spend.test_reservation_rules import budget_extra, set_connection

if TYPE_CHECKING:
    from decimal import Decimal

    from mypy_boto3_s3 import S3Client

    from airflow_provider_videogen.simulator import SimulatorServer


@pytest.fixture
def with_budget(
    simulator: SimulatorServer, s3_bucket: str, aws_conn_id: str, s3_client: S3Client, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """``with_budget(credits)``: point ``videogen_default`` at the simulator with that budget; returns its ledger."""

    def _make(credits: Decimal) -> S3Ledger:
        extra = budget_extra(s3_bucket, aws_conn_id, credits)
        set_connection(monkeypatch, simulator, extra)
        config = BudgetConfig.from_extra(extra, "videogen_default")
        assert config is not None
        return S3Ledger(config, client=s3_client)

    return _make
