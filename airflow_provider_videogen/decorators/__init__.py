"""TaskFlow decorators ``@task.videogen`` and ``@task.videogen_remix``: thin, on top of the operators.

Registered through ``get_provider_info()["task-decorators"]``, so ``from airflow.sdk import task``
then ``@task.videogen(...)`` works once the package is installed.
"""
