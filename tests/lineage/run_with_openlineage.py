"""Run one DAG with ``dag.test()`` in this process, with OpenLineage configured by the environment.

A subprocess, because the OpenLineage provider decides at import whether its listener is on
(``[openlineage] transport``), and the test session imports it long before: in a fresh process
the file transport configured by the test is the one in force.

Usage: ``python run_with_openlineage.py DAG_ID RUN_CONF_JSON [OTHER_DAG_ID ...]``; the other DAGs run
first, without conf (``DAGRUN_STATE[<dag id>]=<state>`` each: one process, one parse for all), and
the state of ``DAG_ID``'s run is printed last.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag_id, conf = sys.argv[1], json.loads(sys.argv[2])
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    for other in sys.argv[3:]:
        print(f"DAGRUN_STATE[{other}]={bag.get_dag(other).test().state}")
    dagrun = bag.get_dag(dag_id).test(run_conf=conf)
    print(f"DAGRUN_STATE={dagrun.state}")


if __name__ == "__main__":
    main()
