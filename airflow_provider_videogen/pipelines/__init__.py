"""Building blocks of the example pipelines (``dags/``); not a stable API.

The provider's public surface is ``hooks``, ``operators``, ``triggers``, ``sensors``,
``transfers``, ``links``, ``models``, ``exceptions``, ``frames`` and ``references``. The modules
here exist for the example DAGs and may change with them: copy what you need into your own DAGs
rather than importing it.

* :mod:`.prompts`: a creative brief -> N prompts, every request of the run validated up front.
* :mod:`.chain`: a clip's last frame -> the next remix's first frame (inline or via storage).
* :mod:`.manifest`: collect a run's results by variant and write its ``manifest.json``.
"""
