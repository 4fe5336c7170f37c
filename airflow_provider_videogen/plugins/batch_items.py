"""The videos of one batch task instance (``VideoGenerationBatchOperator``), item by item, for the Videos view.

A batch is one task instance with a list of videos: its XCom ``videogen_task_ids`` lists the
remote ids in request order, its ``return_value`` the results in the same order (once it
ended), its rendered ``requests`` field the prompts. Before the ids XCom exists (a batch that
stopped half-way through submitting, or a retry that has not finished submitting) each item's
submission record in the task state store (``videogen_remote_task__item<i>``) says which remote
task it paid for, and an unanswered in-flight marker (``videogen_submission_in_flight__item<i>``)
says its create may have reached the gateway (an uncertain submission: ``uncertain list``).

Only what the task instance recorded itself becomes a card's remote id: a result or a record
naming another id than the item's is not used (the media endpoints serve exactly the remote ids
on the run's cards).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.completion import VIDEO_ERROR_KEY
from airflow_provider_videogen.operators.batch import BATCH_IDS_KEY
from airflow_provider_videogen.operators.reattach import (
    IN_FLIGHT_KEY,
    RECORD_KEY,
    InFlightMarker,
    SubmissionRecord,
    load_model,
)
from airflow_provider_videogen.uncertain import split_item_key

if TYPE_CHECKING:
    from airflow_provider_videogen.plugins.records import TaskRow

#: The task state store keys whose batch item versions (``item_key(key, i)``) the view reads.
STORE_KEYS = (RECORD_KEY, IN_FLIGHT_KEY)
#: Task-instance states in which the batch is still submitting or waiting for its videos.
WAITING = frozenset({"scheduled", "queued", "running", "deferred", "up_for_retry", "restarting"})


@dataclass(frozen=True)
class BatchItem:
    """One video of a batch as the task instance recorded it."""

    index: int
    remote_id: str | None
    request: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    state: str | None = None
    error: str | None = None


def item_rows(store: dict[str, Any], key: str) -> dict[int, dict[str, Any]]:
    """The batch items' values of one store key (``key__item<i>``), by item index."""
    found = {}
    for stored, value in store.items():
        base, index = split_item_key(stored)
        if base == key and index is not None and isinstance(value, dict):
            found[index] = value
    return found


def batch_items(row: TaskRow) -> list[BatchItem]:
    """One entry per video of the batch, in request order; empty when it has neither requests nor ids yet."""
    ids = _ids(row.xcoms.get(BATCH_IDS_KEY))
    results = row.xcoms.get("return_value")
    results = results if isinstance(results, list) else []
    requests = requests_of(row.rendered.get("requests"))
    records = item_rows(row.item_store, RECORD_KEY)
    markers = item_rows(row.item_store, IN_FLIGHT_KEY)
    count = max(len(ids), len(requests), max([*records, *markers], default=-1) + 1)
    recorded_error = str(row.xcoms.get(VIDEO_ERROR_KEY) or "")
    items = []
    for index in range(count):
        record = records.get(index) or {}
        # a batch that stopped part-way lists the ids it paid for: the rest come from their records
        recorded_id = str(record["id"]) if record.get("id") else None
        remote_id = ids[index] if index < len(ids) else recorded_id
        if remote_id is None or record.get("id") != remote_id:
            record = {}  # an earlier submission of this item: not the video this card shows
        result = results[index] if index < len(results) and isinstance(results[index], dict) else {}
        if remote_id is None or result.get("id") != remote_id:
            result = {}
        state, error = _state_and_error(row.state, remote_id, recorded_error)
        if remote_id is None and _unanswered(markers.get(index), records.get(index)):
            state, error = (
                "uncertain",
                (
                    "a create of this request may have reached the gateway but its answer was lost: every retry "
                    "refuses until a human decides (python -m airflow_provider_videogen.uncertain list)"
                ),
            )
        items.append(
            BatchItem(
                index=index,
                remote_id=remote_id,
                request=requests[index] if index < len(requests) else {},
                result=result,
                record=record,
                state=result.get("state") or state,
                error=error,
            )
        )
    return items


def requests_of(rendered: Any) -> list[dict[str, Any]]:
    """The rendered ``requests`` field as one dict per item (a prompt string becomes ``{"prompt": ...}``).

    Airflow stores a rendered field longer than ``[core] max_templated_field_length`` (4096
    characters by default: a few dozen prompts) as the truncated text of its Python repr; the
    items complete in that text keep their prompts, the later ones have none.
    """
    if isinstance(rendered, str):
        try:
            rendered = json.loads(rendered)
        except ValueError:
            rendered = leading_items(rendered)
    if not isinstance(rendered, list):
        return []
    out: list[dict[str, Any]] = []
    for item in rendered:
        if isinstance(item, str):
            out.append({"prompt": item})
        elif isinstance(item, dict):
            out.append(item)
        else:
            out.append({})
    return out


def leading_items(text: str) -> list[Any]:
    """The complete leading items of a (possibly truncated) Python list repr inside ``text``."""
    start = next((i for i, ch in enumerate(text) if ch == "[" and text[i + 1 : i + 2] in ("'", '"', "{", "]")), -1)
    if start < 0:
        return []
    pieces: list[str] = []
    depth, quote, escaped, begin = 0, "", False, start + 1
    for pos in range(start + 1, len(text)):
        ch = text[pos]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})" and depth:
            depth -= 1
        elif ch in ",]" and not depth:
            pieces.append(text[begin:pos])
            begin = pos + 1
            if ch == "]":
                break
    items = []
    for piece in pieces:  # the item the truncation cut has no comma after it: never among the pieces
        try:
            items.append(ast.literal_eval(piece.strip()))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            break
    return items


def _unanswered(raw_marker: dict[str, Any] | None, raw_record: dict[str, Any] | None) -> bool:
    """An in-flight marker past ``prepared`` that no submission record answers (as ``uncertain.find_uncertain``)."""
    marker = load_model(InFlightMarker, raw_marker)
    if marker is None or marker.phase == "prepared":
        return False
    record = load_model(SubmissionRecord, raw_record)
    return record is None or record.marker_started_at != marker.started_at


def _ids(value: Any) -> list[str | None]:
    if not isinstance(value, list):
        return []
    return [str(v) if isinstance(v, str) and v else None for v in value]


def _state_and_error(ti_state: str | None, remote_id: str | None, recorded_error: str) -> tuple[str | None, str | None]:
    """An item's state and error while the batch has no result for it (it waits, or it failed).

    A failed batch records one item's error (XCom ``videogen_error``, naming its remote task);
    the other items' outcome is in the task instance's log only.
    """
    if ti_state in WAITING:
        return ("rendering" if remote_id else "waiting"), None
    if ti_state not in ("failed", "upstream_failed"):
        return ti_state, None
    if remote_id is None:
        return "not submitted", f"the batch task instance {ti_state.replace('_', ' ')} before submitting this request"
    if recorded_error and f"Remote task {remote_id} " in recorded_error:
        return "failed", recorded_error
    return "unknown", (
        "the batch task instance failed: this video's outcome is in its log (a retry re-uses it if it rendered)"
    )
