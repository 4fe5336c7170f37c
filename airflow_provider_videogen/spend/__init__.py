"""Spend guard: the price of a video before paying, a cap per task and per run, a budget shared by every DAG.

* :mod:`.prices`: the published price table (seed 001) and per-model overrides from the
  connection extra ``prices``.
* :mod:`.estimate`: ``estimate(request)`` -> credits, USD and the basis of the figure, or
  "unpriced"; also ``python -m airflow_provider_videogen.spend.estimate`` (cost of a backfill).
* :mod:`.ledger`: the budget of a key, shared by every worker on every machine: an S3 object
  updated with conditional writes (``If-Match``), one per budget period.
* :mod:`.guard`: what the operators call: the cap before any request, the reservation before
  the create, the settlement after it.
* :mod:`.plan`: the estimate of a whole run, for the planning step of the example DAGs.
"""
