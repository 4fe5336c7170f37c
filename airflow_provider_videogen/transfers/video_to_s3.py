"""``VideoToS3Operator``: archive finished videos to S3 before their 24 h download links expire.

Data flow: ``source`` (a generation/remix task's XCom, a list of them, or URLs) -> a list of
:class:`~airflow_provider_videogen.transfers.sources.VideoRef` -> one key per video from the
``s3_key`` template -> for each video, :func:`~airflow_provider_videogen.transfers.streaming.
stream_url_to_s3` through ``VideoGenHook.stream_download`` into ``S3Hook``'s client -> one asset
event per task for its destination (:mod:`.assets`) and a small JSON list in XCom.

Idempotency has two layers:

1. **Before downloading** (videos from a remote task only; see :mod:`.provenance`): if the
   key already holds an object whose metadata names the same remote task, the same video index
   and the same link (without its signature) and carries a SHA-256, the video is already
   archived; it is skipped without a download. Remote task outputs never change, and this lets a rerun succeed after
   the links have expired. Bare URLs are always downloaded (what a URL serves can change);
   ``replace=True`` also always downloads.
2. **After downloading**, the SHA-256 decides (see :mod:`.commit`): same hash -> skip, a
   different hash -> fail unless ``replace=True``.

Every video is attempted even if an earlier one failed (its link may expire before the retry);
the task then fails with the failures, and a retry skips what is already archived.

Asset events: one per task try that left objects in place, on one stable asset per destination
(see :mod:`.assets`), listing every object, skipped ones included (``outcome`` says ``written``,
``replaced`` or ``unchanged``). That matches Airflow's own semantics for static outlets (a rerun
emits again) and ensures that a video written by a try that later failed on another video is
still announced by the successful retry. ``asset_per_object=True`` restores one asset per object.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import httpx
from airflow.sdk import Asset, AssetAlias, BaseOperator
from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.hooks.addresses import BlockedAddressError
from airflow_provider_videogen.hooks.redaction import mask_link
from airflow_provider_videogen.hooks.transport import public_download_client
from airflow_provider_videogen.links.archive import ArchiveLink
from airflow_provider_videogen.transfers.assets import destination_asset, destination_prefix, emit_archive_events
from airflow_provider_videogen.transfers.errors import DownloadFailedError, LinkExpiredError, VideoArchiveError
from airflow_provider_videogen.transfers.keys import DEFAULT_S3_KEY, check_template, check_unique, render_key
from airflow_provider_videogen.transfers.provenance import (
    already_archived,
    check_user_metadata,
    header_safe,
    provenance,
)
from airflow_provider_videogen.transfers.sources import VideoRef, parse_source
from airflow_provider_videogen.transfers.streaming import (
    WRITER_KEY,
    ArchiveResult,
    ArchiveTarget,
    OpenStream,
    StreamSettings,
    httpx_opener,
    stream_url_to_s3,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import jinja2
    from airflow.providers.openlineage.extractors.base import OperatorLineage
    from airflow.sdk import Context
    from mypy_boto3_s3 import S3Client

__all__ = ["DEFAULT_ASSET_ALIAS", "DEFAULT_S3_KEY", "VideoToS3Operator"]

#: Asset alias archive events are reported under (each names its destination's asset); schedule
#: DAGs on it to react to new videos.
DEFAULT_ASSET_ALIAS = "videogen-archive"


def _describe_failure(exc: BaseException) -> str:
    """One line for a per-video failure that is not an archive error: S3's code, or the message."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "an S3 call")
        return f"S3 {operation} failed: {error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def _mask_signatures(refs: Sequence[VideoRef]) -> None:
    """Register the links (path and query: either may hold the secret) with Airflow's secrets masker.

    This module never logs a link, but libraries might (``httpx`` logs full URLs at
    INFO, which Airflow's default logging config happens to silence), and the rendered
    ``source`` is shown in the UI; masking makes both safe whatever the logging setup. Links a
    download is redirected to are masked as they are followed (``masking_request_hook``).
    """
    for ref in refs:
        mask_link(ref.url)


class VideoToS3Operator(BaseOperator):
    """Stream finished videos into S3, verified, resumable and idempotent.

    :param source: what to archive (templated): the XCom dict of a videogen generation or remix
        task (``generate.output``), a list of them (a mapped task's output), a URL, or a list of
        URLs.
    :param s3_bucket: target bucket (templated).
    :param s3_key: key template (templated, then filled per video) with placeholders
        ``{dag_id}``, ``{run_id}``, ``{logical_date}``, ``{task_id}``, ``{map_index}``,
        ``{video_task_id}``, ``{index}``, ``{ext}``. The default,
        ``videogen/{dag_id}/{run_id}/{task_id}/{map_index}/{video_task_id}_{index}.{ext}``,
        never collides across runs, backfills, mapped tasks or videos. ``{task_id}`` is this
        archive task; ``{video_task_id}`` the remote task id (``url-<hash>`` for a bare URL);
        ``{index}`` the video's position in its task's ``video_urls``.
    :param aws_conn_id: Airflow AWS connection (``endpoint_url`` in its extra for S3-compatible
        stores such as SeaweedFS or MinIO).
    :param videogen_conn_id: videogen connection used for downloads; its API key is only sent to
        the gateway's own origin, never to a CDN. ``None`` downloads with a plain HTTP client.
    :param replace: overwrite a key that holds a different object (default: fail).
    :param metadata: extra S3 user metadata (templated), ASCII strings; keys ``sha256`` and
        ``videogen-*`` are reserved.
    :param max_bytes: refuse videos larger than this (default 2 GiB, at most 5 GiB).
    :param part_size: multipart part size (default 8 MiB). The transfer holds at most
        ``(upload_concurrency + 1) * part_size`` bytes of video, whatever its length.
    :param upload_concurrency: parts uploaded in parallel while downloading continues (default
        2; more did not raise throughput against SeaweedFS on 2 cores, see ``benchmarks/``).
    :param max_resumes: how often a dropped download is resumed with ``Range``.
    :param resume_backoff: seconds before the n-th resume, times n.
    :param conditional_writes: use S3 conditional writes (``If-None-Match``/``If-Match``) so a
        concurrent writer is never overwritten; disable for stores that reject them.
    :param allow_private_hosts: let downloads (and their redirects) reach loopback, private and
        link-local hosts; refused by default so a link cannot make the worker read internal
        services (:mod:`airflow_provider_videogen.hooks.addresses`). For self-hosted storage. The
        videogen connection's own gateway host is always allowed; its extra
        ``allow_private_hosts`` has the same effect for downloads through the hook.
    :param asset_alias: alias under which the task emits one event on its destination's asset,
        ``s3://<bucket>/<stable key prefix>/`` (:mod:`.assets`): one asset per destination however
        many videos are archived; the event's ``extra`` lists the objects (``objects``), the
        partition (``partition_key``) and ``manifest_uri``. ``None`` emits nothing. The alias is
        added to ``outlets`` by ``__init__``; a mapped ``VideoToS3Operator.partial(...).expand(...)``
        only runs ``__init__`` on the worker, so declare it there too
        (``outlets=[AssetAlias(DEFAULT_ASSET_ALIAS)]`` in ``partial``) for the DAG processor to
        register the alias before the first run. Alias events carry the producing run's partition
        key (none for ordinary runs), so ``schedule=[AssetAlias(...)]`` and ``schedule=[asset]``
        consumers run on them.
    :param asset: a stable asset of your own (a campaign, a destination), emitted instead of the
        alias event, with ``asset_partition_key`` as its partition key: a partitioned event, for
        consumers scheduled with ``PartitionedAssetTimetable`` (Airflow queues no other consumer
        for an event that has a partition key). It is added to ``outlets``, so the DAG processor
        registers it and no scheduler ever activates it at run time; in ``partial`` declare it in
        ``outlets`` too.
    :param asset_partition_key: partition of the event (templated; default the run id, e.g.
        ``"{{ ds }}"`` for a daily DAG); also in the event's ``extra``. ``None``: no partition.
    :param manifest_uri: the run's manifest (templated), named in the event's ``extra``.
    :param asset_per_object: the pre-issue-24 behaviour, opt-in: one alias event per object, each
        on its own ``s3://bucket/key`` asset. It grows Airflow's asset table by every video, and
        each new asset is activated at run time, where two 3.3.2 schedulers can race and one exit.
        Changed in issue 24: DAGs scheduled on the old per-object assets (or reading one event
        per object from the alias) need this, or read ``extra["objects"]`` of the single event.
    """

    #: For OpenLineage: the objects this try left in place, and why it failed.
    _lineage_outputs: list[str] = []
    _lineage_error: str | None = None

    template_fields: Sequence[str] = (
        "source",
        "s3_bucket",
        "s3_key",
        "metadata",
        "aws_conn_id",
        "videogen_conn_id",
        "asset_partition_key",
        "manifest_uri",
    )
    template_fields_renderers = {"source": "json", "metadata": "json"}
    operator_extra_links = (ArchiveLink(),)
    ui_color = "#ffd8a8"

    def __init__(
        self,
        *,
        source: Any,
        s3_bucket: str,
        s3_key: str = DEFAULT_S3_KEY,
        aws_conn_id: str | None = "aws_default",
        videogen_conn_id: str | None = "videogen_default",
        replace: bool = False,
        metadata: dict[str, str] | None = None,
        max_bytes: int = StreamSettings.max_bytes,
        part_size: int = StreamSettings.part_size,
        upload_concurrency: int = StreamSettings.upload_concurrency,
        max_resumes: int = StreamSettings.max_resumes,
        resume_backoff: float = StreamSettings.resume_backoff,
        conditional_writes: bool = StreamSettings.conditional_writes,
        asset_alias: str | None = DEFAULT_ASSET_ALIAS,
        asset: Asset | str | None = None,
        asset_partition_key: str | None = "{{ run_id }}",
        manifest_uri: str | None = None,
        asset_per_object: bool = False,
        allow_private_hosts: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(asset, str):
            asset = Asset(asset)
        if asset_per_object and asset is not None:
            raise ValueError("asset_per_object=True emits through asset_alias; it cannot be combined with asset")
        added: list[Any] = [asset] if asset is not None else ([AssetAlias(name=asset_alias)] if asset_alias else [])
        if added:
            outlets = kwargs.pop("outlets", None) or []
            outlets = list(outlets) if isinstance(outlets, (list, tuple)) else [outlets]
            kwargs["outlets"] = [*outlets, *(o for o in added if o not in outlets)]
        super().__init__(**kwargs)
        self.source = source
        self.s3_bucket = s3_bucket
        self.s3_key = s3_key
        self.aws_conn_id = aws_conn_id
        self.videogen_conn_id = videogen_conn_id
        self.replace = replace
        self.metadata = metadata or {}
        self.asset_alias = asset_alias
        self.asset = asset
        self.asset_partition_key = asset_partition_key
        self.manifest_uri = manifest_uri
        self.asset_per_object = asset_per_object
        self._key_template = s3_key
        self.allow_private_hosts = allow_private_hosts
        # Built now so a bad part size or limit fails when the DAG is parsed, not at 3 a.m.
        self.settings = StreamSettings(
            part_size=part_size,
            max_bytes=max_bytes,
            max_resumes=max_resumes,
            resume_backoff=resume_backoff,
            upload_concurrency=upload_concurrency,
            conditional_writes=conditional_writes,
        )
        if "{{" not in s3_key and "{%" not in s3_key:  # else checked after Jinja rendered it
            check_template(s3_key)

    # ---- rendering -----------------------------------------------------------------------

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        """Render, then register the signed links (path and query) with the secrets masker.

        The task runner stores the rendered ``source`` (the "Rendered Template" tab) right after
        rendering, before ``execute``; the masker redacts what it knows at that moment. This is
        the hook both plain and mapped tasks go through (a mapped task renders its unmapped copy
        here), so signatures are masked in the UI too, not only in the logs.
        """
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        if parent is self:
            self._key_template = self.s3_key  # before a single video's key replaces it: the destination
            with contextlib.suppress(VideoArchiveError):  # execute() explains a bad source in full
                refs = parse_source(self.source)
                _mask_signatures(refs)
                if len(refs) == 1:
                    # Show the real key in "Rendered Template", not "clip-0.{ext}"; execute() then
                    # finds no placeholder left and writes exactly what the UI showed.
                    self.s3_key = self._keys(refs, context)[0]

    def _keys(self, refs: Sequence[VideoRef], context: Context) -> list[str]:
        """One key per video from the ``s3_key`` template and this task instance's identity."""
        ti = context.get("ti")
        base = {
            "dag_id": self.dag_id,
            "run_id": context.get("run_id") or getattr(ti, "run_id", None),
            "logical_date": context.get("logical_date"),
            "task_id": self.task_id,
            "map_index": getattr(ti, "map_index", -1),
        }
        return [
            render_key(self.s3_key, {**base, "video_task_id": r.video_task_id, "index": r.index, "ext": r.ext})
            for r in refs
        ]

    # ---- execution -----------------------------------------------------------------------

    def execute(self, context: Context) -> list[dict[str, Any]]:
        try:
            return self._execute(context)
        except Exception as exc:
            self._lineage_error = str(exc)
            raise

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """Called by the OpenLineage provider: each archived object as an ``s3://bucket`` + ``key`` output."""
        from airflow_provider_videogen.lineage import LineageFacts, operator_lineage, s3_dataset

        return operator_lineage(LineageFacts(outputs=[s3_dataset(uri) for uri in self._lineage_outputs]))

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        """As on success (the objects archived before the failure), plus ``errorMessage``."""
        from airflow_provider_videogen.lineage import LineageFacts, operator_lineage, s3_dataset

        facts = LineageFacts(outputs=[s3_dataset(uri) for uri in self._lineage_outputs], error=self._lineage_error)
        return operator_lineage(facts, failed=True)

    def _execute(self, context: Context) -> list[dict[str, Any]]:
        refs = parse_source(self.source, fetch_links=self._fetch_links if self.videogen_conn_id else None)
        _mask_signatures(refs)
        ti = context.get("ti")
        map_index = getattr(ti, "map_index", -1)
        run_id = context.get("run_id") or getattr(ti, "run_id", None)
        dag_id = self.dag_id
        keys = self._keys(refs, context)
        check_unique(keys)
        user_metadata = check_user_metadata(self.metadata)
        writer = header_safe(f"{dag_id}/{run_id}/{self.task_id}/{map_index}")
        client = self._s3_client()
        self.log.info("Archiving %d video(s) to s3://%s", len(refs), self.s3_bucket)

        results: list[tuple[VideoRef, ArchiveResult]] = []
        failures: list[VideoArchiveError] = []
        with self._openers() as opener_for:
            for ref, key in zip(refs, keys, strict=True):
                target = ArchiveTarget(
                    bucket=self.s3_bucket,
                    key=key,
                    metadata={**user_metadata, **provenance(ref), WRITER_KEY: writer},
                    writer=writer,
                    replace=self.replace,
                    label=ref.label,
                )
                try:
                    results.append((ref, self._archive_one(ref, target, client, opener_for)))
                except VideoArchiveError as exc:
                    self.log.error("%s", exc)
                    failures.append(exc)
                except (BlockedAddressError, ClientError, BotoCoreError, VideoGenError) as exc:
                    # Every video is attempted: one video's refused host or S3 error does not
                    # stop the others (the S3 error names the call and the key, never a link).
                    failure = DownloadFailedError(f"{ref.label}: {_describe_failure(exc)}")
                    failure.__cause__ = exc
                    self.log.error("%s", failure)
                    failures.append(failure)

        self._lineage_outputs = [result.uri for _, result in results]
        self._emit_asset_events(context, results)
        if failures:
            if len(failures) == 1:
                raise failures[0]
            raise VideoArchiveError(
                f"{len(failures)} of {len(refs)} videos could not be archived: " + " | ".join(str(f) for f in failures)
            ) from failures[0]
        return [self._xcom(ref, result) for ref, result in results]

    def _archive_one(
        self,
        ref: VideoRef,
        target: ArchiveTarget,
        client: S3Client,
        opener_for: Callable[[str], OpenStream],
    ) -> ArchiveResult:
        done = already_archived(ref, target, client, replace=self.replace, log=self.log)
        if done is not None:
            return done
        if ref.is_expired():
            if ref.expires_at is None:
                raise RuntimeError("internal error: ref.expires_at is unset")  # an invariant, kept under python -O
            raise LinkExpiredError(
                f"{ref.label}: the download link expired at {ref.expires_at.isoformat()} (links expire 24 h "
                "after the task completed), so nothing was downloaded. Re-generate the video, or archive "
                "within 24 h of completion."
            )
        self.log.info("%s -> %s", ref.label, target.uri)
        return stream_url_to_s3(opener_for(ref.url), client, target, settings=self.settings, log=self.log)

    # ---- helpers -------------------------------------------------------------------------

    def _fetch_links(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """The download links of a task stored without them (``xcom_links=False``): one status query."""
        from airflow_provider_videogen.hooks.videogen import VideoGenHook
        from airflow_provider_videogen.models import ApiKind

        task = VideoGenHook(videogen_conn_id=str(self.videogen_conn_id)).get_task(
            ApiKind(data.get("api") or "generation"), str(data.get("id"))
        )
        expires = task.expires_at()
        return {
            **data,
            "video_urls": list(task.video_urls),
            "first_video_url": task.first_video_url,
            "expires_at": expires.isoformat() if expires else data.get("expires_at"),
            "links_in_xcom": True,
        }

    def _s3_client(self) -> S3Client:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        client: S3Client = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        return client

    @contextlib.contextmanager
    def _openers(self) -> Iterator[Callable[[str], OpenStream]]:
        """Yield ``url -> OpenStream``: the videogen hook's streaming client, or a plain one."""
        if self.videogen_conn_id:
            from airflow_provider_videogen.hooks.videogen import VideoGenHook

            hook = VideoGenHook(videogen_conn_id=self.videogen_conn_id, allow_private_hosts=self.allow_private_hosts)

            def via_hook(url: str) -> OpenStream:
                return lambda start: hook.stream_download(url, start=start)

            try:
                yield via_hook
            finally:
                hook.close()
            return
        timeout = httpx.Timeout(60.0, connect=10.0)
        with public_download_client(timeout, allow_private_hosts=self.allow_private_hosts) as client:
            yield lambda url: httpx_opener(client, url)

    def _emit_asset_events(self, context: Context, results: list[tuple[VideoRef, ArchiveResult]]) -> None:
        ti = context.get("ti")
        emit_archive_events(
            context["outlet_events"],
            results,
            asset=self.asset,
            asset_alias=self.asset_alias,
            per_object=self.asset_per_object,
            partition_key=self.asset_partition_key or None,
            manifest_uri=self.manifest_uri,
            destination=lambda: destination_asset(
                self.s3_bucket,
                destination_prefix(
                    self._key_template,
                    dag_id=self.dag_id,
                    task_id=self.task_id,
                    run_id=context.get("run_id") or getattr(ti, "run_id", None),
                ),
            ),
        )

    @staticmethod
    def _xcom(ref: VideoRef, result: ArchiveResult) -> dict[str, Any]:
        return {
            **result.as_dict(),
            "video_task_id": ref.video_task_id,
            "index": ref.index,
            "model": ref.model,
        }
