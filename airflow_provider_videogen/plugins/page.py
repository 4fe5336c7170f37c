"""The Videos page: a grid of players, each with what the run recorded about its video.

Plain HTML and a little CSS, no script and no external asset, so it renders inside Airflow's
iframe with nothing else to load. Every recorded value is escaped: prompts are user text.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from airflow_provider_videogen.plugins.records import VideoCard

STYLE = """
body{font-family:system-ui,sans-serif;margin:12px;color:#1a202c;background:#fff}
@media (prefers-color-scheme:dark){body{color:#e2e8f0;background:#1a202c}.card{border-color:#4a5568}}
h1{font-size:1.1rem;margin:0 0 4px}p.sub{margin:0 0 12px;color:#718096;font-size:.85rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}
.card{border:1px solid #cbd5e0;border-radius:8px;padding:8px;display:flex;gap:10px}
.card video,.card .none{width:200px;min-width:200px;aspect-ratio:16/9;background:#000;border-radius:4px}
.card .none{display:flex;align-items:center;justify-content:center;color:#fff;font-size:.8rem;text-align:center}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 8px;font-size:.78rem;min-width:0}
dt{color:#718096}dd{margin:0;overflow-wrap:anywhere}
.state-failed,.error{color:#c53030}.state-succeeded{color:#2f855a}code{font-size:.72rem}
"""


def media_path(root: str, dag_id: str, run_id: str, remote_id: str, what: str = "media") -> str:
    return f"{root}/{what}/{quote(dag_id, safe='')}/{quote(run_id, safe='')}/{quote(remote_id, safe='')}"


def render_page(title: str, subtitle: str, cards: list[VideoCard], *, root: str, dag_id: str, run_id: str) -> str:
    body = "\n".join(_card(card, root=root, dag_id=dag_id, run_id=run_id) for card in cards)
    if not cards:
        body = "<p>No video in this run (yet): videos appear here once a task has submitted one.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class='sub'>{escape(subtitle)}</p>"
        f"<div class='grid'>{body}</div></body></html>"
    )


def _card(card: VideoCard, *, root: str, dag_id: str, run_id: str) -> str:
    label = f"{card.kind} {card.variant}" if card.variant is not None else card.kind
    if card.playable and card.remote_id:
        src = media_path(root, dag_id, run_id, card.remote_id)
        poster = (
            f" poster='{escape(media_path(root, dag_id, run_id, card.remote_id, 'poster'))}'" if card.archived else ""
        )
        player = (
            f"<video controls preload='metadata' src='{escape(src)}'{poster} "
            f"data-remote-id='{escape(card.remote_id)}' data-kind='{escape(card.kind)}' "
            f"data-duration='{card.duration_seconds or ''}'></video>"
        )
    else:
        player = f"<div class='none'>{escape(card.state or 'no video')}</div>"
    task = card.task_id + (f"[{card.map_index}]" if card.map_index >= 0 else "")
    rows = [
        ("video", label),
        ("task", task),
        ("batch item", None if card.item is None else str(card.item)),
        ("prompt", card.prompt),
        ("extension", card.prompt_extend),
        ("model", card.model),
        ("duration", f"{card.duration_seconds} s" if card.duration_seconds else None),
        ("size", _size(card.size)),
        ("state", card.state + (" (partial: first segment only)" if card.partial else "") if card.state else None),
        ("credits", _credits(card)),
        ("remote id", card.remote_id),
        ("S3", card.s3_uri),
        ("sha256", card.sha256),
        ("review", _review(card)),
        ("error", card.error),
    ]
    cells = "".join(
        f"<dt>{name}</dt><dd class='{_css(name, card)}'>{_value(name, value)}</dd>" for name, value in rows if value
    )
    return (
        f"<div class='card' data-testid='video-card' data-kind='{escape(card.kind)}' "
        f"data-task='{escape(task)}'{_item(card)}>{player}<dl>{cells}</dl></div>"
    )


def _item(card: VideoCard) -> str:
    return "" if card.item is None else f" data-item='{card.item}'"


def _value(name: str, value: str) -> str:
    return f"<code>{escape(value)}</code>" if name in ("remote id", "S3", "sha256") else escape(value)


def _css(name: str, card: VideoCard) -> str:
    if name == "state":
        return f"state-{escape(card.state or '')}"
    return "error" if name == "error" else ""


def _size(size: int | None) -> str | None:
    if size is None:
        return None
    if size < 1 << 20:
        return f"{size / 1024:.1f} KiB ({size} bytes)"
    return f"{size / (1 << 20):.1f} MiB ({size} bytes)"


def _credits(card: VideoCard) -> str | None:
    if card.estimated_credits is None and card.credits_reserved is None:
        return None
    estimate = "-" if card.estimated_credits is None else f"{card.estimated_credits:g}"
    reserved = "-" if card.credits_reserved is None else f"{card.credits_reserved:g}"
    return f"estimate {estimate} / reserved {reserved}"


def _review(card: VideoCard) -> str | None:
    review = card.review
    if not review:
        return None
    who = review.get("by") or "nobody"
    return f"{review.get('decision')} by {who} at {review.get('at')}"
