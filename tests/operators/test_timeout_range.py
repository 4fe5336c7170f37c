"""``timeout`` out of range is refused before anything is sent (issue 21 point 12).

``timedelta.max``, ``inf`` and ``nan`` used to pass the constructor, and the first try paid for
the create, then overflowed the deadline arithmetic (``deferral_timeout``, the log line's
``datetime``), on every retry. One rule (``deadlines.check_wait_timeout``) for the operators and
the sensor, at construction: a mapped task's expanded ``timeout`` is checked there too.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_videogen.deadlines import MAX_WAIT_TIMEOUT, check_wait_timeout
from airflow_provider_videogen.operators.remix import VideoRemixOperator
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.sensors.videogen import VideoTaskSensor

if TYPE_CHECKING:
    from airflow_provider_videogen.simulator import SimulatorServer

BAD = [
    timedelta.max,
    float("inf"),
    float("nan"),
    -1,
    0,
    timedelta(0),
    MAX_WAIT_TIMEOUT + timedelta(seconds=1),
    1e308,
    "soon",
    True,
    None,
]


class Store:
    """The task state store's get/set/delete, in memory (as ``test_submission_money``)."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.rows.get(key)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.rows[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)


class FakeTI:
    try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


@pytest.mark.parametrize("timeout", BAD, ids=repr)
def test_every_waiting_class_refuses_the_timeout_naming_field_value_and_range(timeout: Any) -> None:
    builders = [
        lambda: VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="A cat", timeout=timeout),
        lambda: VideoRemixOperator(
            task_id="remix", model="veo_3_1-fast-remix", prompt="A", prompt_extend="B", timeout=timeout
        ),
    ]
    if timeout is not None:  # the sensor's None means "its default" (2 h), as Airflow's sensors
        builders.append(lambda: VideoTaskSensor(task_id="wait", task_id_to_watch="task-1", timeout=timeout))
    for build in builders:
        with pytest.raises(ValueError, match=r"timeout=.*(out of range|not a duration); allowed: .*> 0 and <= 604800"):
            build()


@pytest.mark.parametrize("timeout", [timedelta.max, float("inf"), float("nan")], ids=repr)
def test_a_bad_timeout_never_reaches_the_gateway(simulator: SimulatorServer, videogen_conn: str, timeout: Any) -> None:
    # Building and running the task as a worker would: on main the create was accepted (paid) and
    # then the deadline arithmetic crashed, the same way on every retry.
    def build_and_run() -> Any:
        op = VideoGenerationOperator(
            task_id="gen", model="veo3.1-fast", prompt="A cat", duration=4, deferrable=False, timeout=timeout
        )
        return op.execute({"ti": FakeTI(), "task_state_store": Store()})  # type: ignore[arg-type]

    with pytest.raises(ValueError, match=r"timeout="):
        build_and_run()
    assert simulator.stats()["generation"]["creates"] == 0


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(MAX_WAIT_TIMEOUT, MAX_WAIT_TIMEOUT.total_seconds()), (timedelta(hours=1), 3600.0), (2, 2.0), ("90", 90.0)],
)
def test_durations_in_range_are_kept_as_seconds(given: Any, seconds: float) -> None:
    assert check_wait_timeout(given) == seconds
    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="A cat", timeout=given)
    assert op.wait_timeout == seconds
    assert VideoTaskSensor(task_id="wait", task_id_to_watch="task-1", timeout=given).timeout == seconds


def test_the_sensor_keeps_its_two_hour_default() -> None:
    assert VideoTaskSensor(task_id="wait", task_id_to_watch="task-1").timeout == 7200.0
