"""Smallest demo: one generation through the hook against the embedded simulator.

Starts the simulator on a free loopback port, points a ``videogen`` connection at it through
``AIRFLOW_CONN_VIDEOGEN_DEFAULT``, submits one video, prints every state change, downloads the
MP4 into ``demo-output/`` and checks that ffmpeg decodes it. Exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    from airflow_provider_videogen.hooks.videogen import VideoGenHook
    from airflow_provider_videogen.models import GenerationRequest
    from airflow_provider_videogen.simulator.config import SimulatorConfig
    from airflow_provider_videogen.simulator.server import SimulatorServer

    out_dir = Path("demo-output")
    out_dir.mkdir(exist_ok=True)
    with SimulatorServer(SimulatorConfig(render_seconds=4)) as sim:
        os.environ["AIRFLOW_CONN_VIDEOGEN_DEFAULT"] = json.dumps(
            {"conn_type": "videogen", "host": sim.url, "password": sim.api_key}
        )
        print(f"simulator listening on {sim.url}")
        hook = VideoGenHook()
        task = hook.submit_generation(GenerationRequest(model="veo3.1-fast", prompt="A cat playing piano", duration=4))
        print(f"submitted {task.id}: {task.credits_reserved} credits reserved")
        last = None
        while not task.state.is_terminal:
            if (task.state, task.progress) != last:
                print(f"  {task.state.value:<9} {task.progress:3d}%")
                last = (task.state, task.progress)
            time.sleep(0.5)
            task = hook.get_generation(task.id)
        print(f"  {task.state.value:<9} {task.progress:3d}%")
        if not task.video_urls:
            print(f"generation failed: {task.error_code}: {task.error_message}", file=sys.stderr)
            return 1
        path = out_dir / f"{task.id}.mp4"
        size = hook.download(task.video_urls[0], str(path))
    import imageio_ffmpeg

    check = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0 or check.stderr.strip():
        print(f"ffmpeg could not decode {path}: {check.stderr}", file=sys.stderr)
        return 1
    print(f"downloaded {size} bytes to {path.resolve()} (ffmpeg decodes it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
