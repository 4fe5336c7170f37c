"""Which asset an archive task announces, and what its event says.

One stable asset per destination, not one per object: an asset per archived video grows Airflow's
asset table by every video ever made (the Assets page becomes a list of mp4 files), and on Airflow
3.3.2 each new asset is activated at run time by the schedulers' orphanage check, where two
schedulers can race and one exits with ``duplicate key ... "asset_active_pkey"``.

The destination is ``s3://<bucket>/<prefix>``: the key's leading segments up to the first one
that changes from run to run (a placeholder other than ``{dag_id}`` / ``{task_id}``, or a segment
that is the run id). The default key ``videogen/{dag_id}/{run_id}/...`` gives
``s3://<bucket>/videogen/<dag_id>``; the example pipeline's ``<prefix>/<dag_id>/<run>/clip-0.mp4``
gives ``s3://<bucket>/<prefix>/<dag_id>``. The event's ``extra`` lists the objects (URI, SHA-256,
size, outcome, remote task, model), the partition (the run, or what ``asset_partition_key``
renders to) and the manifest's URI when one is named.

How Airflow 3.3.2 carries a partition key (read in its source): ``add_partitions`` exists only on a
concrete asset's outlet accessor, not on an alias (it raises ``TypeError``); the API server records
a concrete asset's event only if the task declared the asset as an outlet and the DAG processor
registered it; an alias event takes the producing run's partition key (``None`` for ordinary
runs). An event that carries a partition key queues only partition-aware consumers
(``PartitionedAssetTimetable``); ``schedule=[asset]`` and alias consumers are queued only by events
without one.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias

from airflow_provider_videogen.transfers.keys import safe_value

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow_provider_videogen.transfers.sources import VideoRef
    from airflow_provider_videogen.transfers.streaming import ArchiveResult

__all__ = ["archive_event_extra", "destination_asset", "destination_prefix", "emit_archive_events"]

#: Placeholders that name the same thing in every run: a key segment holding only these is stable.
_STABLE_FIELDS = frozenset({"dag_id", "task_id"})


def destination_prefix(template: str, *, dag_id: str, task_id: str, run_id: str | None) -> str:
    """The stable leading part of a key template (``""`` for the bucket's root), ``/``-terminated."""
    run_segment = safe_value(run_id) if run_id else None
    stable: list[str] = []
    for segment in template.split("/")[:-1]:  # the last segment names one object
        fields = {name for _, name, _, _ in string.Formatter().parse(segment) if name is not None}
        if fields - _STABLE_FIELDS:
            break
        rendered = segment.format(dag_id=safe_value(dag_id), task_id=safe_value(task_id)) if fields else segment
        if rendered == run_segment:  # a key rendered before it got here (mapped kwargs, Jinja)
            break
        if rendered:
            stable.append(rendered)
    return "".join(f"{segment}/" for segment in stable)


def destination_asset(bucket: str, prefix: str) -> Asset:
    """The asset of everything archived under ``s3://bucket/prefix`` (named by its URI)."""
    uri = f"s3://{bucket}/{prefix}".rstrip("/")
    return Asset(name=uri, uri=uri)


def archive_event_extra(
    results: Sequence[tuple[VideoRef, ArchiveResult]],
    *,
    partition_key: str | None,
    manifest_uri: str | None,
) -> dict[str, Any]:
    """The event's ``extra``: what this task left in place (no link, no key: S3 URIs and hashes)."""
    extra: dict[str, Any] = {
        "objects": [
            {
                "uri": result.uri,
                "sha256": result.sha256,
                "size": result.size,
                "content_type": result.content_type,
                "outcome": result.outcome,
                "video_task_id": ref.video_task_id,
                "model": ref.model,
            }
            for ref, result in results
        ],
        "partition_key": partition_key,
    }
    if manifest_uri:
        extra["manifest"] = manifest_uri
    return extra


def emit_archive_events(
    outlet_events: Any,
    results: Sequence[tuple[VideoRef, ArchiveResult]],
    *,
    asset: Asset | None,
    asset_alias: str | None,
    per_object: bool,
    partition_key: str | None,
    manifest_uri: str | None,
    destination: Callable[[], Asset],
) -> None:
    """The archive task's asset events (see the module docstring): on the declared ``asset``
    (partitioned), else one event through the alias on the stable ``destination()``, or one per
    object when ``per_object`` (the old behaviour, opt-in)."""
    if not results:
        return
    if per_object:
        if asset_alias:
            events = outlet_events[AssetAlias(name=asset_alias)]
            for ref, result in results:
                events.add(
                    Asset(uri=result.uri),
                    extra={
                        "sha256": result.sha256,
                        "size": result.size,
                        "content_type": result.content_type,
                        "outcome": result.outcome,
                        "video_task_id": ref.video_task_id,
                        "model": ref.model,
                    },
                )
        return
    extra = archive_event_extra(results, partition_key=partition_key, manifest_uri=manifest_uri)
    if asset is not None:
        accessor = outlet_events[asset]
        accessor.extra.update(extra)
        if partition_key:
            accessor.add_partitions(partition_key)
        return
    if asset_alias:
        outlet_events[AssetAlias(name=asset_alias)].add(destination(), extra=extra)
