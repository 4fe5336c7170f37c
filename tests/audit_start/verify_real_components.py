"""Re-check two audit findings on real Airflow components (not collected by pytest: about 2 minutes).

    .venv/bin/python -m tests.audit_start.verify_real_components

Prints the seed each mapped-task-group create was sent with (audit: None, the upstream said 4
and 6) and the simulator's cancel count after a user marks a task started in the triggerer
failed (audit: 0, although the triggerer logs "invoking on_kill").
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from airflow_provider_videogen.simulator import SimulatorConfig, SimulatorServer
from airflow_provider_videogen.testing.airflow_components import AirflowComponents

DAGS = Path(__file__).parent / "dags"


def main() -> None:
    with SimulatorServer(SimulatorConfig(render_seconds=2, time_scale=1.0)) as sim:
        conn = {
            "conn_type": "videogen",
            "host": sim.url,
            "password": sim.api_key,
            "extra": {"retry_backoff": 0.2, "cancel_path": "/v1/tasks/{task_id}/cancel"},
        }
        components = AirflowComponents(
            dags_folder=DAGS,
            home=tempfile.mkdtemp(prefix="audit-e2e-"),
            env={"AIRFLOW_CONN_VIDEOGEN_DEFAULT": json.dumps(conn)},
            parallelism=1,
            startup_timeout=180,
        )
        components.start()
        try:
            api = components.api
            run = api.trigger_and_wait("audit_mtg", timeout=150)
            print("mapped task group run:", run.state)
            for record in sim.stats()["generation_requests"]:
                if "[audit-mtg]" in str(record.get("body", {}).get("prompt")):
                    print("  create accepted:", record.get("accepted"), "seed:", record["body"].get("seed"))
            api.wait_for_dag("audit_kill")
            run_id = api.trigger("audit_kill")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                tis = api.task_instances("audit_kill", run_id)
                sent = [r for r in sim.stats()["generation_requests"] if "[audit-kill]" in str(r.get("body"))]
                if sent and tis and tis[0]["state"] == "deferred":
                    break
                time.sleep(0.5)
            time.sleep(3)
            api.set_task_instance_state("audit_kill", run_id, "slow", "failed")
            time.sleep(15)
            print("cancels after mark-failed:", sim.stats()["generation"]["cancels"])
        finally:
            components.stop()


if __name__ == "__main__":
    main()
