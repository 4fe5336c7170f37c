"""How a batch ends: each request's own event, each item completed by the single operator's code.

The worker that completes a batch (after its trigger fired, or after polling with
``deferrable=False``) renders the requests again: they may come in another order than when the
trigger was made, so events are matched to requests by the remote id each request's record names
(:func:`in_request_order`). Each item then settles a reservation its create left unsettled and is
completed as one video is (:func:`complete_items`); one failure names every item that did not
succeed, and keeps the single operator's retry rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.exceptions import VideoGenError
from airflow_provider_videogen.links.videogen import mark_remote_task
from airflow_provider_videogen.operators.batch_items import unsettled
from airflow_provider_videogen.spend.resume import settle_left

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videogen.operators.batch_items import _BatchItem
    from airflow_provider_videogen.triggers.videogen import VideoTaskEvent


def in_request_order(
    context: Context, children: list[_BatchItem], events: list[VideoTaskEvent]
) -> list[VideoTaskEvent]:
    """Each request's own event: the requests are rendered again here and may come in another order.

    Matched by the remote id each request's record names; by position only without any record
    (``durable=False`` or no state store). A request with no record of its own (one that
    replaced another while the trigger waited) has no event here.
    """
    records = [child.submission(context) for child in children]
    if all(record is None for record in records):
        return events
    by_id = {event.task_id: event for event in events}
    ordered = [by_id.get(record.id) if record is not None else None for record in records]
    missing = [child.batch_index for child, event in zip(children, ordered, strict=True) if event is None]
    if missing:
        raise VideoGenError(
            f"The trigger reported no video for request(s) {missing[:20]} of the batch: the requests changed while "
            "it waited; clear the task to re-attach each request to its own video"
        )
    return [event for event in ordered if event is not None]


def complete_items(
    operator: Any, context: Context, children: list[_BatchItem], events: list[VideoTaskEvent]
) -> list[Any]:
    """Every item's result in order, or one failure naming each item that did not succeed.

    Each item settles a reservation its create left unsettled first, and is completed by the
    single operator's code (links re-read, no-link and partial rules, error XCom).
    """
    mark_remote_task(operator)
    results: list[Any] = []
    failures: list[tuple[int, str, Exception]] = []
    held: list[str] = []  # reservations left unsettled once the ledger failed one settlement
    for child, event in zip(children, events, strict=True):
        child._seen_try = getattr(context.get("ti"), "try_number", None)  # resumed: lineage's "reused"
        child._seen_record = child.submission(context)
        if event.task is not None:
            child._seen_task = event.task
            # settle_left waits about 50 s for a failing ledger: once per batch, not once per video
            if held:
                held.extend(unsettled(child, context))
            else:
                settle_left(child, context, event.task, child._seen_record)
                held.extend(unsettled(child, context))
        try:
            results.append(child._complete(context, event))
        except Exception as exc:
            child._seen_error = str(exc)
            failures.append((child.batch_index, event.task_id, exc))
    if len(held) > 1:
        operator.log.warning(
            "The ledger could not settle reservation %s; the other %d unsettled reservations of this batch were "
            "not tried again (each would hold this worker slot about a minute more): they stay held at their "
            "estimates until a re-attach settles them (%s)",
            held[0],
            len(held) - 1,
            ", ".join(held[1:21]),
        )
    if not failures:
        return results
    # Each item keeps the single operator's rule: a retry resubmits every failed item, so one
    # that must not be retried (a request at fault, a paid video without a link, a task that
    # cannot be followed) keeps the whole batch from an automatic retry.
    final = [i for i, _, exc in failures if isinstance(exc, AirflowFailException)]
    detail = "; ".join(f"request {i} (remote task {rid}): {str(exc)[:300]}" for i, rid, exc in failures)
    message = (
        f"{len(failures)} of {len(events)} videos did not succeed: {detail[:3000]}. The other "
        f"{len(events) - len(failures)} are paid for and kept: "
        + (
            f"not retried, since request(s) {final[:20]} failed in a way a retry cannot fix (it would fail the "
            "same way, or pay again); a clear after fixing them re-uses the finished videos and submits only "
            "what failed."
            if final
            else "a retry re-uses them and submits only what failed."
        )
    )
    raise AirflowFailException(message) if final else VideoGenError(message)
