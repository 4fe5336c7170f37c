"""The Airflow UI's "Videos" view: registered through ``get_provider_info()["plugins"]``.

Installing the provider is enough: the api-server mounts :mod:`.app` under ``/videos`` and the
UI adds a "Videos" tab to DAG-run and task-instance pages (:class:`.videos.VideosPlugin`).
"""
