"""Step 3 of :class:`~airflow_provider_videogen.spend.guard.SpendGuard`: after the create, count what it cost.

By now the create was paid for, so nothing here fails the task: a gateway figure that cannot be
counted settles the estimate instead, a ledger conflict counts the remote task apart (never twice),
and a ledger that cannot be written leaves the reservation held for a later re-attach to settle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_videogen.spend import amounts
from airflow_provider_videogen.spend.estimate import fmt
from airflow_provider_videogen.spend.ledger_errors import LedgerError, ReservationConflictError
from airflow_provider_videogen.spend.prices import to_decimal
from airflow_provider_videogen.spend.reservation import SPEND_KEY, SpendRecord, _load

if TYPE_CHECKING:
    from decimal import Decimal

    from airflow_provider_videogen.models import VideoTask
    from airflow_provider_videogen.operators.reattach import SubmissionRecord
    from airflow_provider_videogen.spend.estimate import Estimate
    from airflow_provider_videogen.spend.ledger import S3Ledger


class SettlementSteps:
    """The settle and release steps of :class:`~airflow_provider_videogen.spend.guard.SpendGuard`."""

    log: Any
    estimate: Estimate
    ledger: S3Ledger | None
    refusal: str | None
    current: SpendRecord | None
    unsettled: bool

    def settle(self, store: Any, task: VideoTask) -> None:
        """Log the gateway's reserved credits beside the estimate; settle the reservation with them."""
        reported = self._reported(task, task.credits_reserved)
        self._compare(task, reported)
        if self.ledger is not None and self.current is not None:
            self._settle(store, self.current, task, reported)
            self.current = None

    def settle_reattached(self, store: Any, task: VideoTask, record: SubmissionRecord | None) -> None:
        """On re-attach: settle the reservation ``task`` was sent under, if an earlier try left it ``reserved``.

        That reservation is the one named by the task's record, never whatever reservation this
        task instance holds now (which may belong to a later create whose answer was lost).
        """
        if record is None or record.reservation_id is None or record.reservation_period is None:
            return  # submitted without a budget (or by an older version): nothing to settle
        if self.ledger is None:
            if self.refusal is not None:
                self.log.warning(
                    "Cannot settle reservation %s of remote task %s: %s", record.reservation_id, task.id, self.refusal
                )
            return
        earlier = _load(store.get(SPEND_KEY)) if store is not None else None
        mine = earlier if earlier is not None and earlier.reservation_id == record.reservation_id else None
        if mine is not None and mine.state != "reserved":
            return  # settled (or released) by the try that created it
        credits = task.credits_reserved if task.credits_reserved is not None else record.credits_reserved
        reported = self._reported(task, credits)
        self.log.info(
            "Settling reservation %s left by an earlier try, which ended after creating remote task %s",
            record.reservation_id,
            task.id,
        )
        target = mine or SpendRecord(
            reservation_id=record.reservation_id,
            period_id=record.reservation_period,
            budget=self.ledger.config.name,
            seq=0,
            state="reserved",
            estimate=to_decimal(record.reservation_estimate or 0, "reservation estimate"),
        )
        self._settle(store if mine is not None else None, target, task, reported)

    def _reported(self, task: VideoTask, credits: Any) -> Decimal | None:
        """The gateway's ``credits_reserved`` as an amount; ``None`` (the estimate is settled) when it is none.

        A lying or broken gateway (a negative figure would enlarge the budget; ``1e30`` would
        overflow) must neither count nor stop the reservation from settling: the create was paid,
        so the estimate is settled instead, with a warning naming the gateway's value.
        """
        problem = task.credits_rejected
        if credits is not None:
            try:
                return amounts.credits(credits, "usage.credits_reserved")
            except amounts.AmountError as exc:
                problem = str(exc)
        if problem:
            self.log.warning(
                "Remote task %s: the gateway's %s. Not counting it: the reservation is settled at the estimate "
                "(%s) instead. Check the gateway's bill for this task.",
                task.id,
                problem,
                self.estimate.describe(),
            )
        return None

    def release(self, store: Any, reason: str) -> None:
        """The gateway refused the create (nothing exists, nothing is billed): free the reservation."""
        if self.ledger is None or self.current is None:
            return
        record = self.current
        self.ledger.release(record.reservation_id, period_id=record.period_id, reason=reason[:300])
        if store is not None:
            store.set(SPEND_KEY, record.model_copy(update={"state": "released"}).model_dump(mode="json"))
        self.current = None
        self.log.info("Released reservation %s: the create was refused", record.reservation_id)

    def _settle(self, store: Any, record: SpendRecord, task: VideoTask, reported: Decimal | None) -> None:
        if self.ledger is None:
            raise RuntimeError("internal error: self.ledger is unset")  # an invariant, kept under python -O
        amount, note = (reported, None) if reported is not None else (record.estimate, "gateway reported no credits")
        try:
            entry = self.ledger.settle(
                record.reservation_id, amount, period_id=record.period_id, remote_id=task.id, note=note
            )
        except ReservationConflictError as exc:
            # The create was paid: never fail the task for the ledger's sake, never count it twice.
            self.log.error("%s", exc)
            if exc.counted_under is not None:
                return
            try:
                entry = self.ledger.settle(
                    f"{record.reservation_id}+{task.id}",
                    amount,
                    period_id=record.period_id,
                    remote_id=task.id,
                    note=f"counted apart: {str(exc)[:200]}",
                )
            except LedgerError as again:
                self._unsettled(record, task, again)
                return
        except LedgerError as exc:
            self._unsettled(record, task, exc)
            return
        if store is not None:
            store.set(SPEND_KEY, record.model_copy(update={"state": "settled"}).model_dump(mode="json"))
        self.log.info(
            "Settled reservation %s at %s credits (remote task %s)%s",
            record.reservation_id,
            fmt(entry.credits if entry.credits is not None else amount),
            task.id,
            f"; {note}, the estimate is kept" if note else "",
        )

    def _unsettled(self, record: SpendRecord, task: VideoTask, exc: Exception) -> None:
        """The ledger cannot be written (S3 down, a corrupt object) after a paid create: keep going.

        Failing here would abandon a video that is paid for, or refuse a free re-attach. The
        reservation stays ``reserved`` at its estimate (so the create is counted) and the store
        still says so: the worker that completes the task settles it (it never ends in the
        triggerer then), or the next try that re-attaches.
        """
        self.unsettled = True
        self.log.error(
            "Could not settle reservation %s for remote task %s: %s. It stays held at its estimate (%s credits); "
            "the task's completion (or a later re-attach) settles it.",
            record.reservation_id,
            task.id,
            exc,
            fmt(record.estimate),
        )

    def _compare(self, task: VideoTask, reported: Decimal | None) -> None:
        if reported is None:
            self.log.info(
                "Remote task %s: the gateway reported no credits; estimate %s", task.id, self.estimate.describe()
            )
            return
        self.log.info(
            "Remote task %s: the gateway reserved %s credits; estimate %s",
            task.id,
            fmt(reported),
            self.estimate.describe(),
        )
        if self.estimate.credits is not None and reported > self.estimate.credits:
            self.log.warning(
                "Remote task %s: the gateway reserved %s credits, %s more than the estimate (%s). Check the "
                "prices under the connection's extra 'prices'.",
                task.id,
                fmt(reported),
                fmt(reported - self.estimate.credits),
                self.estimate.describe(),
            )
