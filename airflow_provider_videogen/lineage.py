"""OpenLineage facets of the video operators and of ``VideoToS3Operator`` (optional extra ``openlineage``).

Airflow's OpenLineage provider calls ``get_openlineage_facets_on_complete`` /
``_on_failure`` on an operator after it ran; the operators collect :class:`LineageFacts` while
they run and hand them to :func:`operator_lineage` here. What an event carries:

* run facets: ``externalQuery`` (the remote task id, and the gateway's origin as ``source``) and
  ``videogen`` (:func:`videogen_run_facet`: API, model, duration, size/quality, credits reserved,
  whether the result was re-used from an earlier try instead of a new submission);
* inputs: reference images given as files or object-storage paths (URLs and data URIs are not
  datasets: the gateway downloads or decodes them);
* outputs: each archived object as ``s3://bucket`` + ``key``, the URIs of the asset events;
* ``errorMessage`` on failure.

Nothing here is imported unless the OpenLineage provider is installed and asks: the package
works without the extra. Ids, names and numbers only: no prompt, no key, no signed URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_videogen.hooks.redaction import redact_url

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors.base import OperatorLineage

#: Name of the custom run facet, and the producer/schema it declares.
FACET_NAME = "videogen"
FACET_SCHEMA_URL = (
    "https://github.com/airflow-provider-videogen/airflow-provider-videogen/blob/main/docs/"
    "VideogenRunFacet.json#/$defs/VideogenRunFacet"
)


@dataclass
class LineageFacts:
    """What a video operator learned while running; every field optional (a run may end early)."""

    api: str | None = None
    remote_task_id: str | None = None
    gateway: str | None = None
    model: str | None = None
    duration: int | None = None
    size: str | None = None
    quality: str | None = None
    credits_reserved: float | None = None
    reused: bool | None = None
    can_cancel: bool | None = None
    inputs: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


def dataset_name(value: Any) -> tuple[str, str] | None:
    """``(namespace, name)`` of a file or object-storage input, per OpenLineage's naming; ``None`` otherwise.

    Local paths: ``file`` + absolute path. ``s3://bucket/key`` (or any ``scheme://``):
    ``s3://bucket`` + ``key``. URLs, data URIs and bytes are not datasets.
    """
    from airflow_provider_videogen.references import is_file_input

    if isinstance(value, (bytes, bytearray, memoryview)) or not is_file_input(value):
        return None
    text = str(value)
    parts = urlsplit(text)
    if parts.scheme == "file":
        return "file", str(Path(parts.path).resolve())
    if parts.scheme and "://" in text and len(parts.scheme) > 1:
        return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")
    return "file", str(Path(os.fspath(value)).resolve())


def s3_dataset(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``("s3://bucket", "key")``."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def gateway_origin(base_url: str | None) -> str | None:
    """The gateway as ``scheme://host[:port]`` (no path, no credentials): the external query's source."""
    if not base_url:
        return None
    parts = urlsplit(redact_url(base_url))
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


@cache
def videogen_run_facet() -> type:
    """The ``videogen`` run facet class, built on first use (OpenLineage's client is an optional extra)."""
    from attrs import define
    from openlineage.client.facet_v2 import RunFacet

    @define
    class VideogenRunFacet(RunFacet):
        """What was rendered and paid for: API, model, length, size/quality, credits, re-use."""

        api: str | None = None
        model: str | None = None
        durationSeconds: int | None = None
        size: str | None = None
        quality: str | None = None
        creditsReserved: float | None = None
        reused: bool | None = None
        canCancel: bool | None = None

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA_URL

    return VideogenRunFacet


def operator_lineage(facts: LineageFacts, *, failed: bool = False) -> OperatorLineage:
    """The ``OperatorLineage`` for what an operator collected (``failed``: add ``errorMessage``)."""
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        ErrorMessageRunFacet,
        ExternalQueryRunFacet,
    )
    from airflow.providers.openlineage.extractors.base import OperatorLineage

    run_facets: dict[str, Any] = {}
    if facts.remote_task_id:
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=facts.remote_task_id, source=facts.gateway or "videogen"
        )
    if facts.api or facts.model:
        run_facets[FACET_NAME] = videogen_run_facet()(
            api=facts.api,
            model=facts.model,
            durationSeconds=facts.duration,
            size=facts.size,
            quality=facts.quality,
            creditsReserved=facts.credits_reserved,
            reused=facts.reused,
            canCancel=facts.can_cancel,
        )
    if failed and facts.error:
        run_facets["errorMessage"] = ErrorMessageRunFacet(message=facts.error, programmingLanguage="python")
    return OperatorLineage(
        inputs=[Dataset(namespace=ns, name=name) for ns, name in facts.inputs],
        outputs=[Dataset(namespace=ns, name=name) for ns, name in facts.outputs],
        run_facets=run_facets,
    )
