"""The items of a batch: each video's own state-store keys, its request fields and its slot.

A :class:`~airflow_provider_videogen.operators.batch.VideoGenerationBatchOperator` runs the single
video operator's code for each item (:class:`_BatchItem`), on a view of the task instance's state
store whose keys carry the item's suffix (:class:`ItemStore`: ``videogen_remote_task__item3``...).
Which suffix (slot) an item gets is :func:`place`'s rule: the slot of its *request*, so a retry
whose list was reordered or edited still finds each request's video and refuses its lost answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.hooks.redaction import redact_links_in
from airflow_provider_videogen.operators.reattach import (
    IN_FLIGHT_KEY,
    RECORD_RETENTION,
    InFlightMarker,
    _answered,
    fingerprint,
    load_model,
    stored_record,
)
from airflow_provider_videogen.operators.videogen import REQUEST_FIELDS, VideoGenerationOperator, generation_request
from airflow_provider_videogen.spend.reservation import SPEND_KEY, _load

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The most videos one batch task submits: one trigger polls them all, and a retry walks them all.
MAX_BATCH_SIZE = 200
#: The request fields every item inherits from the operator's arguments unless it sets its own.
SHARED_FIELDS: tuple[str, ...] = tuple(name for name in REQUEST_FIELDS if name != "prompt")
#: An item's fields that may hold a signed link or a token (masked once rendered, as the single operator's).
LINK_FIELDS = ("image_urls", "callback_url", "extra_params")
#: Task state store key (the batch's own): how many item slots (``__item<slot>``) the tries of this
#: task instance have used, so that a retry whose list shrank still finds every earlier video.
SLOTS_KEY = "videogen_batch_slots"


def item_key(key: str, index: int) -> str:
    """The state store key of ``key`` for item ``index`` of a batch."""
    return f"{key}__item{index}"


class ItemStore:
    """One batch item's view of the task instance's state store: every key gets the item's suffix.

    The guards (:mod:`.reattach`, :mod:`airflow_provider_videogen.spend`) read and write their
    usual keys through it, so each item keeps its own marker, record and reservation.
    """

    def __init__(self, store: Any, index: int) -> None:
        self.store = store
        self.index = index

    def get(self, key: str, default: Any = None) -> Any:
        value = self.store.get(item_key(key, self.index))
        return default if value is None else value

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        if retention is None:
            self.store.set(item_key(key, self.index), value)
        else:
            self.store.set(item_key(key, self.index), value, retention=retention)

    def delete(self, key: str) -> None:
        self.store.delete(item_key(key, self.index))


def unsettled(child: _BatchItem, context: Context) -> list[str]:
    """The reservation of ``child``'s create, if its store still calls it ``reserved`` (unsettled)."""
    record, store = child._seen_record, child._state_store(context)
    spend = _load(store.get(SPEND_KEY)) if store is not None else None
    if record is None or record.reservation_id is None or spend is None:
        return []
    return (
        [record.reservation_id] if spend.reservation_id == record.reservation_id and spend.state == "reserved" else []
    )


class _BatchItem(VideoGenerationOperator):
    """One video of a batch: the single-video operator's submission, completion and spend code, on its own keys.

    Built by the batch operator at run time, outside any DAG; never scheduled. ``batch_index`` is
    its place in the requests, ``batch_slot`` the suffix of its keys (see :func:`place`).
    """

    batch_index: int = 0
    batch_slot: int | None = None

    @property
    def slot(self) -> int:
        return self.batch_index if self.batch_slot is None else self.batch_slot

    def _state_store(self, context: Context) -> Any:
        store = super()._state_store(context)
        return None if store is None else ItemStore(store, self.slot)

    def _where_to_delete(self, context: Context) -> str:
        return f"(item {self.batch_index} of the batch: its keys end in '__item{self.slot}') " + (
            super()._where_to_delete(context)
        )


def item_fields(raw: Any, shared: dict[str, Any]) -> list[dict[str, Any]]:
    """Each item's request fields (``shared`` defaults, then its own), all validated before anything is sent."""
    if isinstance(raw, (str, bytes, dict)) or not isinstance(raw, (list, tuple)):
        hint = (
            " (a list rendered by Jinja is text: set render_template_as_native_obj=True on the DAG)"
            if isinstance(raw, str)
            else ""
        )
        shown = redact_links_in(str(raw))[:100]  # a signed link in the value never reaches the error
        raise InvalidRequestError(
            "batch", [("requests", f"requests={shown!r}: expected a list of prompts or request dicts{hint}")]
        )
    if len(raw) > MAX_BATCH_SIZE:
        raise InvalidRequestError(
            "batch", [("requests", f"requests has {len(raw)} items; at most {MAX_BATCH_SIZE} per batch task")]
        )
    items = []
    for index, item in enumerate(raw):
        what = f"request {index} of the batch"
        if isinstance(item, str):
            own: dict[str, Any] = {"prompt": item}
        elif isinstance(item, dict):
            unknown = sorted(str(key)[:40] for key in item if key not in REQUEST_FIELDS)
            if unknown:
                raise InvalidRequestError(
                    what, [("requests", f"{what}: unknown field(s) {unknown}; allowed: {list(REQUEST_FIELDS)}")]
                )
            own = dict(item)
        else:
            raise InvalidRequestError(
                what, [("requests", f"{what} is {type(item).__name__}: expected a prompt or a dict")]
            )
        fields = {**shared, **own}
        generation_request(fields, what)  # validates; raises InvalidRequestError naming the field
        items.append(fields)
    return items


def place(store: Any, children: list[_BatchItem], *, grow: bool) -> None:
    """Give each item the keys (``__item<slot>``) of its own request, wherever it stood in an earlier try.

    The list may come in another order on a retry (an upstream that lists a set, a clear of
    it), or with requests inserted or removed: keyed by position, every moved item met another
    request's record and paid again, and a lost create was no longer refused. So a request
    takes the slot whose unanswered in-flight marker, else whose record, is for the same
    request (identical requests each take their own); the others their own position if
    nothing is recorded there, else a new slot. A slot for a request no longer in the list is
    left as it is (its video is re-used if the request comes back). :data:`SLOTS_KEY` counts
    the slots ever used; it is raised before any create under a new slot.
    """
    if not children:
        return
    recorded = store.get(SLOTS_KEY)
    before = recorded if isinstance(recorded, int) and 0 < recorded <= 100 * MAX_BATCH_SIZE else 0
    used = max(before, len(children))
    # per slot: the request of its unanswered in-flight marker, and of its record; none before the
    # first try (the count is written before any create under a slot: no count, no slot used)
    known: list[tuple[str | None, str | None]] = [(None, None)] * used
    for slot in range(used if recorded is not None else 0):
        view = ItemStore(store, slot)
        record = stored_record(view)
        marker = load_model(InFlightMarker, view.get(IN_FLIGHT_KEY))
        open_marker = marker.fingerprint if marker is not None and not _answered(record, marker) else None
        known[slot] = (open_marker, record.fingerprint if record is not None else None)
    prints = [fingerprint(child.build_request()) for child in children]
    slots: list[int | None] = [None] * len(children)
    free = list(range(used))
    for which in (0, 1):  # an open marker first (the guard refuses, or ignores a "prepared" one), then a record
        for index, print_ in enumerate(prints):
            if slots[index] is None:
                match = next((slot for slot in free if known[slot][which] == print_), None)
                if match is not None:
                    slots[index] = match
                    free.remove(match)
    fresh = used
    for index in range(len(children)):
        if slots[index] is None:
            if index in free and known[index] == (None, None):
                slots[index] = index
                free.remove(index)
            else:
                slots[index], fresh = fresh, fresh + 1
    if grow and fresh > before:
        store.set(SLOTS_KEY, fresh, retention=RECORD_RETENTION)
    for child, placed in zip(children, slots, strict=True):
        child.batch_slot = placed
