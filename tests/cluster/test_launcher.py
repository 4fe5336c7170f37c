"""The cluster launcher's own rules, without starting anything (fast; no ``cluster`` marker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_videogen.testing.airflow_components import AirflowComponents, component_kind
from airflow_provider_videogen.testing.cluster import (
    COMPONENT_NAME_VARIABLE,
    FAST_FAILURE_DETECTION,
    AirflowCluster,
    component_hostname,
    redis_server_binary,
)

if TYPE_CHECKING:
    from pathlib import Path


def test_component_kind_strips_the_instance_number_only() -> None:
    assert component_kind("scheduler-2") == "scheduler"
    assert component_kind("celery-worker-10") == "celery-worker"
    assert component_kind("dag-processor") == "dag-processor"
    assert component_kind("api-server") == "api-server"


def test_cluster_names_one_component_per_instance(tmp_path: Path) -> None:
    cluster = AirflowCluster(dags_folder=tmp_path, schedulers=2, triggerers=3, celery_workers=1, worker_concurrency=5)
    assert cluster.components == (
        "api-server", "dag-processor", "scheduler-1", "scheduler-2",
        "triggerer-1", "triggerer-2", "triggerer-3", "celery-worker-1",
    )  # fmt: skip
    assert cluster.parallelism == 5  # every worker slot may be busy


def test_unknown_or_repeated_components_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known kinds"):
        AirflowComponents(dags_folder=tmp_path, components=("scheduler", "celery-worker-1"))
    with pytest.raises(ValueError, match="repeated"):
        AirflowComponents(dags_folder=tmp_path, components=("scheduler-1", "scheduler-1"))
    with pytest.raises(ValueError, match="at least 1"):
        AirflowCluster(dags_folder=tmp_path, triggerers=0)


def test_hostname_is_the_component_name_inside_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMPONENT_NAME_VARIABLE, "triggerer-2")
    assert component_hostname() == "triggerer-2"
    monkeypatch.delenv(COMPONENT_NAME_VARIABLE)
    assert component_hostname()  # the machine's name outside it


def test_fast_failure_settings_are_shorter_than_production_defaults() -> None:
    from airflow.configuration import conf

    for variable, value in FAST_FAILURE_DETECTION.items():
        _, section, key = variable.lower().split("__")
        default = conf.get_default_value(section, key)
        assert default is not None, variable
        assert float(value) < float(default), f"{variable}={value} is not faster than the default {default}"


def test_the_redis_server_ships_in_the_wheel() -> None:
    assert redis_server_binary().is_file()


def test_a_lost_workers_prefetched_tasks_are_requeued_within_two_minutes(tmp_path: Path) -> None:
    """Issue 24 point 4: a SIGKILLed worker's prefetched messages stay unacknowledged in Redis.

    Their task instances stay ``queued`` until ``[scheduler] task_queued_timeout`` (600 s, checked
    every 120 s): ten minutes in which a chaos run sees nothing happen. The cluster shortens it.
    """
    cluster = AirflowCluster(dags_folder=tmp_path)
    # What start() would set first; environment() reads them, and nothing is started here.
    cluster._home, cluster._postgres_uri = tmp_path, "postgresql://airflow@localhost/airflow"
    env = cluster.environment()
    timeout = float(env["AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT"])
    interval = float(env["AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL"])
    assert timeout + interval <= 120
    # ... but not below a task's legitimate wait for a slot on this machine (a third time stuck fails it).
    assert timeout >= 60
