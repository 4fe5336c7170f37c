"""The deferral line of a video task says how it will poll, with or without the gateway's estimate.

The remix API sends no ``estimated_time``: the line used to read "(adaptive; estimate Nones)".
"""

from __future__ import annotations

from airflow_provider_videogen.operators.video_task import polling_description


def test_without_an_estimate_the_line_says_there_is_none() -> None:
    line = polling_description(5.0, True, None)

    assert line == "every 5s near the end (adaptive; the gateway gave no estimate, so it goes by progress)"
    assert "None" not in line


def test_with_an_estimate_the_line_gives_it_in_seconds() -> None:
    assert polling_description(15.0, True, 42) == "every 15s near the end (adaptive; the gateway estimates 42s)"


def test_fixed_polling_says_only_the_interval() -> None:
    assert polling_description(0.5, False, None) == "every 0.5s"
