"""Arguments that used to crash raw or loop: clear errors at construction or before any request
(issue 13 points 14 and 15)."""

from __future__ import annotations

import pytest

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.operators.videogen import VideoGenerationOperator
from airflow_provider_videogen.sensors.videogen import VideoTaskSensor


@pytest.mark.parametrize("interval", [0, -1, 0.0, float("nan"), float("inf"), "soon"])
def test_sensor_refuses_a_poll_interval_the_operators_refuse(interval: object) -> None:
    with pytest.raises(ValueError, match=r"poll_interval=.* must be a"):
        VideoTaskSensor(task_id="wait", task_id_to_watch="task-1", poll_interval=interval)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"poll_interval=.* must be a"):
        VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="A cat", poll_interval=interval)  # type: ignore[arg-type]


def test_sensor_keeps_a_valid_poll_interval_as_its_poke_interval() -> None:
    sensor = VideoTaskSensor(task_id="wait", task_id_to_watch="task-1", poll_interval="2.5")  # type: ignore[arg-type]
    assert sensor.poll_interval == 2.5
    assert sensor.poke_interval == 2.5


@pytest.mark.parametrize("rendered", ["²", "\uff18", "4²", "four"])
def test_a_templated_duration_rendering_to_non_ascii_digits_is_a_clear_error(rendered: str) -> None:
    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="A cat", duration="{{ params.d }}")
    op.duration = rendered  # what Jinja rendered
    with pytest.raises(InvalidRequestError) as info:
        op.build_request()
    assert "duration" in str(info.value)
    assert info.value.fields == ["duration"]


def test_a_templated_duration_rendering_to_ascii_digits_is_a_number() -> None:
    op = VideoGenerationOperator(task_id="gen", model="veo3.1-fast", prompt="A cat", duration="{{ params.d }}")
    op.duration = " 8 "
    assert op.build_request().duration == 8
