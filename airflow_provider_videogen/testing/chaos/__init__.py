"""Chaos runs on the production-shaped cluster: seeded faults, a mixed load, invariants after (issue 24).

``python -m airflow_provider_videogen.testing.chaos --seed N --videos V --minutes M``; see CHAOS.md.
Modules: ``schedule`` (faults drawn from the seed), ``faults`` (injectors), ``load`` (what runs),
``facts`` (what is collected), ``invariants`` (pure checks over the facts), ``driver`` (one run).
"""
