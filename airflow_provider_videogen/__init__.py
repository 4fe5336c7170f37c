"""Apache Airflow provider for asynchronous AI video generation (Veo 3.1, Seedance, 15 s remix)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (the ``apache_airflow_provider`` entry point)."""
    from airflow_provider_videogen.hooks.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR

    integration = "Video Generation Gateway"
    return {
        "package-name": "airflow-provider-videogen",
        "name": "Video Generation",
        "description": "Deferrable AI video generation (Veo 3.1, Seedance, 15 s remix) with S3 archival.",
        "versions": [__version__],
        "integrations": [{"integration-name": integration, "tags": ["service"]}],
        "hooks": [{"integration-name": integration, "python-modules": ["airflow_provider_videogen.hooks.videogen"]}],
        "operators": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_videogen.operators.videogen",
                    "airflow_provider_videogen.operators.remix",
                    "airflow_provider_videogen.operators.video_task",
                    "airflow_provider_videogen.operators.batch",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_videogen.triggers.videogen",
                    "airflow_provider_videogen.triggers.batch",
                ],
            }
        ],
        "sensors": [
            {"integration-name": integration, "python-modules": ["airflow_provider_videogen.sensors.videogen"]}
        ],
        "transfers": [
            {
                "source-integration-name": integration,
                "target-integration-name": "Amazon Simple Storage Service (S3)",
                "python-module": "airflow_provider_videogen.transfers.video_to_s3",
            }
        ],
        "extra-links": [
            "airflow_provider_videogen.links.videogen.VideoLink",
            "airflow_provider_videogen.links.archive.ArchiveLink",
        ],
        "task-decorators": [
            {"name": "videogen", "class-name": "airflow_provider_videogen.decorators.videogen.videogen_task"},
            {"name": "videogen_remix", "class-name": "airflow_provider_videogen.decorators.remix.videogen_remix_task"},
            {"name": "videogen_batch", "class-name": "airflow_provider_videogen.decorators.batch.videogen_batch_task"},
        ],
        "plugins": [
            {"name": "videogen_videos", "plugin-class": "airflow_provider_videogen.plugins.videos.VideosPlugin"}
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_videogen.hooks.videogen.VideoGenHook",
                "hook-name": "Video Generation Gateway",
                "connection-type": "videogen",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
