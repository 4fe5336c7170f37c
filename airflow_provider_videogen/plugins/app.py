"""The Videos FastAPI app, mounted by the api-server under ``/videos``.

Every route is guarded by Airflow's own authentication and authorisation, exactly as the
api-server's REST routes are: ``requires_access_dag`` resolves the user from the bearer token
or the UI's session cookie (no credential: 401; a bad one: 403) and asks the configured auth
manager whether that user may read the DAG named in the path (no: 403). A plugin route has no
authorisation unless it adds it, so each route declares the dependency.

Routes (``{dag_id}``/``{run_id}``/``{remote_id}`` URL-encoded):

* ``GET /videos/runs/{dag_id}/{run_id}``: the run's Videos page (the DAG run's "Videos" tab);
* ``GET /videos/runs/{dag_id}/{run_id}/tasks/{task_id}/{map_index}``: one task instance's videos;
* ``GET /videos/api/runs/{dag_id}/{run_id}``: the same cards as JSON;
* ``GET /videos/media/{dag_id}/{run_id}/{remote_id}``: the video (Range supported);
* ``GET /videos/poster/{dag_id}/{run_id}/{remote_id}``: its poster frame (JPEG).

A remote id is served only if the run recorded it (a batch task instance: in its
``videogen_task_ids`` or its items' submission records, one card per item: :mod:`.batch_items`),
so access to one DAG never opens another's.
"""

from __future__ import annotations

import logging
import subprocess
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse

from airflow_provider_videogen.plugins.settings import ViewSettings

if TYPE_CHECKING:
    from airflow_provider_videogen.plugins.records import VideoCard

log = logging.getLogger(__name__)

URL_PREFIX = "/videos"


def _read_access(entity_name: str) -> Any:
    """``requires_access_dag("GET", <entity>)`` from the api-server, imported when the app is built."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return Depends(requires_access_dag("GET", DagAccessEntity[entity_name]))


def _cards(dag_id: str, run_id: str) -> list[VideoCard]:
    from airflow_provider_videogen.plugins.store import RunNotFound, load_run

    try:
        return load_run(dag_id, run_id).cards()
    except RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None


def _card(dag_id: str, run_id: str, remote_id: str) -> VideoCard:
    for card in _cards(dag_id, run_id):
        if card.remote_id == remote_id:
            return card
    raise HTTPException(404, f"run {run_id!r} of {dag_id!r} recorded no video {remote_id!r}")


def _root(request: Request) -> str:
    return str(request.scope.get("root_path") or "").rstrip("/")


def _send(answer: dict[str, Any]) -> Response:
    if answer["body"] is None:
        return Response(status_code=answer["status"], headers=answer["headers"])
    return StreamingResponse(answer["body"], status_code=answer["status"], headers=answer["headers"])


def create_app() -> FastAPI:
    from airflow_provider_videogen.plugins import media, page, posters

    app = FastAPI(title="Videos", description="The videos a DAG run made, behind Airflow's login")
    run_access = [_read_access("RUN")]
    ti_access = [_read_access("TASK_INSTANCE")]

    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=run_access)
    def run_page(dag_id: str, run_id: str, request: Request) -> HTMLResponse:
        cards = _cards(dag_id, run_id)
        subtitle = f"{dag_id} / {run_id}: {len(cards)} video(s)"
        return HTMLResponse(
            page.render_page("Videos", subtitle, cards, root=_root(request), dag_id=dag_id, run_id=run_id)
        )

    @app.get("/runs/{dag_id}/{run_id}/tasks/{task_id}/{map_index}", response_class=HTMLResponse, dependencies=ti_access)
    def task_page(dag_id: str, run_id: str, task_id: str, map_index: int, request: Request) -> HTMLResponse:
        cards = [c for c in _cards(dag_id, run_id) if c.belongs_to(task_id, map_index)]
        name = task_id + (f"[{map_index}]" if map_index >= 0 else "")
        subtitle = f"{dag_id} / {run_id} / {name}: {len(cards)} video(s)"
        return HTMLResponse(
            page.render_page(f"Videos of {name}", subtitle, cards, root=_root(request), dag_id=dag_id, run_id=run_id)
        )

    @app.get("/api/runs/{dag_id}/{run_id}", dependencies=run_access)
    def run_cards(dag_id: str, run_id: str) -> JSONResponse:
        return JSONResponse({"videos": [card.to_json() for card in _cards(dag_id, run_id)]})

    @app.get("/media/{dag_id}/{run_id}/{remote_id}", dependencies=ti_access)
    def video(dag_id: str, run_id: str, remote_id: str, request: Request) -> Response:
        card = _card(dag_id, run_id, remote_id)
        settings = ViewSettings.from_config()
        range_header = request.headers.get("range")
        try:
            if card.location:
                return _send(media.s3_answer(*card.location, range_header, settings))
            return _send(media.gateway_answer(card, range_header, settings))
        except media.MediaUnavailable as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)

    @app.get("/poster/{dag_id}/{run_id}/{remote_id}", dependencies=ti_access)
    def poster(dag_id: str, run_id: str, remote_id: str) -> Response:
        card = _card(dag_id, run_id, remote_id)
        if not card.location:
            return PlainTextResponse("Posters are made for archived videos only.", status_code=404)
        bucket, video_key = card.location
        settings = ViewSettings.from_config()
        client = media.s3_client(settings)
        try:
            key = posters.ensure_poster(client, bucket, video_key)
        except (subprocess.SubprocessError, OSError) as exc:  # the command line holds a presigned URL: not shown
            log.warning("No poster for %s: %s", card.s3_uri, type(exc).__name__)
            return PlainTextResponse(f"No poster frame could be made for {card.s3_uri}.", status_code=502)
        obj = client.get_object(Bucket=bucket, Key=key)
        return Response(obj["Body"].read(), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    return app
