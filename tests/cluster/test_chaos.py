"""The suite's short chaos run (issue 24): one fixed seed, about two minutes of faults, no violation.

It runs on the package's shared cluster (no cluster start of its own) with the driver's code
(:func:`~airflow_provider_videogen.testing.chaos.driver.run_chaos`), the same that ``make chaos``
runs for ten minutes over 60 videos. The driver heals what it broke before it checks (killed
components are started again, the simulator's faults cleared), so the tests after this one
find the full cluster. The seed's schedule is printed; a failure replays with
``python -m airflow_provider_videogen.testing.chaos --seed 28 --videos 8 --minutes 2``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_videogen.testing.chaos.driver import run_chaos

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer
    from airflow_provider_videogen.testing.cluster import AirflowCluster
    from airflow_provider_videogen.testing.seaweedfs import SeaweedFS

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]  # the first test also starts the cluster

SEED = 28
VIDEOS = 8
MINUTES = 2.0


def test_short_chaos_run_keeps_every_invariant(
    cluster: AirflowCluster, cluster_simulator: SimulatorServer, cluster_s3: SeaweedFS
) -> None:
    result = run_chaos(
        cluster, cluster_simulator, cluster_s3, seed=SEED, videos=VIDEOS, minutes=MINUTES, drain_minutes=5
    )
    print(result.summary())
    assert result.faults > 0
    assert result.creates >= VIDEOS - 2  # the load ran (a lost answer or a refused create may make fewer)
    assert result.violations == [], "\n".join(result.violations)
