"""``make ui`` stops everything on Ctrl-C (issue 15): runs last, on the session's stack."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import psutil
import pytest

if TYPE_CHECKING:
    from tests.ui.conftest import UiStack

pytestmark = pytest.mark.ui


def test_ctrl_c_stops_every_process_make_ui_started(ui_stack: UiStack) -> None:
    children = ui_stack.descendants()
    names = {psutil.Process(pid).name() for pid in children if psutil.pid_exists(pid)}
    assert len(children) >= 5, f"expected Airflow's four components and weed, saw {sorted(names)}"
    code = ui_stack.interrupt(timeout=90)
    assert code == 0, ui_stack.log()[-2000:]
    assert "stopped." in ui_stack.log()
    time.sleep(1)
    left = [pid for pid in ui_stack.pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not left, f"processes left after Ctrl-C: {[psutil.Process(p).cmdline()[:3] for p in left]}"
