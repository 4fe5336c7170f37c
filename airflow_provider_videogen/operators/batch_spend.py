"""A batch's money checks before its first create: every item's price, and the budget's room for all.

Each item still reserves and settles alone through the single operator's
:class:`~airflow_provider_videogen.spend.guard.SpendGuard` (the rule under concurrent spenders).
These checks only make a batch that cannot be paid for fail *before* any item is sent, instead of
paying for its first videos and failing at the first one refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.operators.reattach import IN_FLIGHT_KEY
from airflow_provider_videogen.spend.estimate import fmt
from airflow_provider_videogen.spend.guard import SpendGuard
from airflow_provider_videogen.spend.reservation import SPEND_KEY, _load

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_videogen.operators.batch_items import _BatchItem


def price_items(
    log: Any, context: Context, children: list[_BatchItem], *, conn_id: str, max_credits: Any, allow_unpriced: bool
) -> None:
    """Price every item (its spend guard) and refuse the batch if one would be refused and was never sent.

    A video an earlier try paid for may still be collected (re-attach costs nothing); an item whose
    create may have been sent (an unanswered marker) is refused by the submission guard in its own words.
    """
    try_number = getattr(context.get("ti"), "try_number", None)
    for child in children:
        child._seen_try = try_number
        child._spend = SpendGuard.check(
            log=log,
            conn_id=conn_id,
            request=child.build_request(),
            context=context,
            max_credits=max_credits,
            allow_unpriced=allow_unpriced,
        )
        if child._spend.refusal is None:
            continue
        record = child.submission(context)
        store = child._state_store(context)
        uncertain = store is not None and store.get(IN_FLIGHT_KEY)
        paid_for = record is not None and record.fingerprint == child._spend.fingerprint
        if not paid_for and not uncertain:
            raise AirflowFailException(f"Request {child.batch_index} of the batch: {child._spend.refusal}")


def check_budget(log: Any, context: Context, children: list[_BatchItem]) -> None:
    """Refuse, before the first create, a batch whose new videos do not fit what the budget has left.

    Each create still takes its own reservation (the rule under concurrent spenders); without
    this, a batch larger than the budget paid for its first videos, then failed at the first
    one the ledger refused, without retry and without waiting for the ones it paid for, and
    every clear did the same. A video an earlier try paid for (a record for its request) or a
    reservation already held for it (nothing sent under it yet) is not counted again.
    """
    new = []
    for child in children:
        spend = child._spend
        if spend is None or spend.ledger is None or spend.budget is None:
            continue
        record = child.submission(context)
        if record is not None and record.fingerprint == spend.fingerprint:
            continue
        store = child._state_store(context)
        held = _load(store.get(SPEND_KEY)) if store is not None else None
        if held is not None and held.state == "reserved" and held.fingerprint == spend.fingerprint:
            continue
        new.append(spend)
    if not new:
        return
    budget, ledger = new[0].budget, new[0].ledger
    if budget is None or ledger is None:  # checked above; kept for mypy
        return
    period = budget.period_id()
    try:
        doc = ledger.read(budget.key(period))
    except Exception as exc:  # each reservation is still checked; this is only the early refusal
        log.warning("Could not read the budget's ledger before the batch (%s); each video reserves alone", exc)
        return
    needed = sum((spend.estimate.credits or Decimal(0) for spend in new), Decimal(0))
    room = budget.credits - (doc.held() if doc is not None else Decimal(0))
    if needed > room:
        raise AirflowFailException(
            f"Not submitting the batch: its {len(new)} new video(s) would cost {fmt(needed)} credits, and "
            f"{budget.describe(period)} has {fmt(max(room, Decimal(0)))} left"
            + (f" ({doc.summary()})" if doc is not None else "")
            + ". Nothing was sent: submit fewer videos per batch, or raise the budget."
        )
