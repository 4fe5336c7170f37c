"""`make demo`'s hook demo runs end to end and leaves a decodable MP4 (it checks decoding itself)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e  # a whole script in a subprocess: starts a simulator, renders, decodes


def test_hook_demo_downloads_a_decodable_video(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo_hook.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "ffmpeg decodes it" in result.stdout
    videos = list((tmp_path / "demo-output").glob("*.mp4"))
    assert len(videos) == 1
    assert videos[0].stat().st_size > 1000
