"""An offline stand-in for the video generation gateway, for testing DAGs without paying for videos.

It speaks both APIs of the contract (``shared/seeds``): the unified generation API
(``POST /v1/videos/generations``, ``GET /v1/tasks/{id}``) and the 15 s remix API
(``POST /v1/videos`` multipart, ``GET /v1/videos/{id}``, ``GET /v1/videos/{id}/content``), plus an
OpenAI-compatible ``POST /v1/chat/completions``. Requests are validated with the provider's own
models, tasks progress with time, and finished tasks link to real, decodable MP4 files.

Start it in-process::

    from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer

    with SimulatorServer(SimulatorConfig(render_seconds=2)) as sim:
        ...  # point a ``videogen`` connection at sim.url with password sim.api_key

or from a shell: ``videogen-simulator --port 8090`` (see :mod:`.cli`). In pytest, use the
``simulator`` and ``videogen_conn`` fixtures of the package's pytest plugin
(:mod:`airflow_provider_videogen.testing.pytest_plugin`).

- Keys: ``Authorization: Bearer <key>`` on every ``/v1`` route; the default key is ``sim-key``.
  ``sim-no-credits`` is refused on create (402 ``insufficient_credits`` on the unified API, 403
  ``insufficient_user_quota`` on the remix API); ``sim-no-access`` gets 403 everywhere.
- Timing, link lifetime, remix answer shape: :class:`SimulatorConfig`.
- Failures on demand: ``[sim:...]`` directives in the prompt and gateway-wide faults, see
  :mod:`.faults`.
- What was received: ``GET /_sim/stats`` / ``SimulatorServer.stats()``.
"""

from __future__ import annotations

from airflow_provider_videogen.simulator.app import create_app
from airflow_provider_videogen.simulator.config import (
    DEFAULT_API_KEY,
    NO_ACCESS_API_KEY,
    NO_CREDITS_API_KEY,
    SPECIAL_API_KEYS,
    ResponseFault,
    SimulatorConfig,
)
from airflow_provider_videogen.simulator.server import SimulatorServer

__all__ = [
    "DEFAULT_API_KEY",
    "NO_ACCESS_API_KEY",
    "NO_CREDITS_API_KEY",
    "SPECIAL_API_KEYS",
    "ResponseFault",
    "SimulatorConfig",
    "SimulatorServer",
    "create_app",
]
