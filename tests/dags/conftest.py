"""Fixtures for the example DAGs: the simulator and SeaweedFS behind the DAGs' own connection ids.

The example DAGs use ``videogen_default`` and ``aws_default``, exactly as a user's deployment
would; here both point at the session's simulator and SeaweedFS server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS


@pytest.fixture
def example_env(
    simulator: Any, videogen_conn: str, seaweedfs: SeaweedFS, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Simulator with short renders and 2 s videos, ``aws_default`` on SeaweedFS, a fresh bucket."""
    simulator.configure(render_seconds=0.5, media_max_seconds=2)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", seaweedfs.connection_json())
    return simulator
