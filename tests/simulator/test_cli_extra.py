"""``videogen-simulator`` without its ``simulator`` extra refuses to start, naming the extra.

Without imageio-ffmpeg it used to listen, report every task succeeded, and then answer every
download with HTTP 500, the install hint only in a server traceback. The test hides the one
third-party module the extra adds (``sys.modules[name] = None`` makes its import fail, as an
absent package does) and runs the real CLI in a child interpreter.
"""

from __future__ import annotations

import subprocess
import sys

from airflow_provider_videogen.testing.processes import free_ports

WITHOUT_FFMPEG = """
import sys
sys.modules["imageio_ffmpeg"] = None
from airflow_provider_videogen.simulator.cli import main
sys.exit(main(["--port", sys.argv[1]]))
"""


def test_the_cli_refuses_to_start_without_the_simulator_extra() -> None:
    [port] = free_ports(1)
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_FFMPEG, str(port)], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 2, done
    assert "listening" not in done.stdout
    assert "pip install 'airflow-provider-videogen[simulator]'" in done.stderr
    assert "imageio-ffmpeg" in done.stderr
    assert "Traceback" not in done.stderr
