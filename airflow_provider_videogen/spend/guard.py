"""What the video operators call to spend safely: the cap before any request, the budget around the create.

One :class:`SpendGuard` per ``execute``:

1. :meth:`SpendGuard.check` (before any request): estimate the request; refuse it when it is over
   the task's ``max_credits``, or unpriced while a cap or a budget is set (unless
   ``allow_unpriced``).
2. :meth:`SpendGuard.reserve` (before the create, before the in-flight marker): hold the estimate
   in the key's ledger, or fail naming the budget, what is held and what this would cost.
3. :meth:`SpendGuard.settle` (after the create): log the gateway's ``credits_reserved`` beside
   the estimate (a warning when it is higher) and replace the estimate by it in the ledger;
   :meth:`SpendGuard.release` when the gateway provably refused the create.

**Crashed tries.** The reservation's id is stable per task instance (``dag_id/run_id/task_id/
map_index#n``) and recorded in the task state store (shared by every try) right after the ledger
holds it. A try killed after reserving leaves the entry ``reserved``; the next try either
reserves again under the same id (the ledger returns the existing entry: nothing is counted
twice) or, when the create had been answered, re-attaches to the remote task and settles that
same entry (:meth:`SpendGuard.settle_reattached`). ``n`` only grows when an earlier reservation
was settled or released and a genuinely new submission follows (the earlier render failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, ConfigDict

from airflow_provider_videogen.spend import amounts
from airflow_provider_videogen.spend.estimate import Estimate, estimate, fmt
from airflow_provider_videogen.spend.ledger import BudgetConfig, BudgetExhaustedError, EntryState, S3Ledger
from airflow_provider_videogen.spend.prices import PriceConfigError, PriceTable, to_decimal

if TYPE_CHECKING:
    from pydantic import BaseModel as RequestModel

    from airflow_provider_videogen.models import VideoTask

#: Task state store key of the task instance's current reservation.
SPEND_KEY = "videogen_spend_reservation"


class SpendRecord(BaseModel):
    """What the task state store keeps about this task instance's reservation (ids and amounts)."""

    model_config = ConfigDict(frozen=True)

    reservation_id: str
    period_id: str
    budget: str
    seq: int
    state: EntryState
    estimate: Decimal


def _load(raw: Any) -> SpendRecord | None:
    if not raw:
        return None
    try:
        return SpendRecord.model_validate(raw)
    except ValueError:
        return None


def task_instance_key(context: Any) -> str:
    """``dag_id/run_id/task_id/map_index``: the same for every try of one task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{-1 if map_index is None else map_index}"


def check_max_credits(value: Any) -> Decimal | None:
    """``max_credits`` as a Decimal (``None``: no cap); a clear error for anything else."""
    if value is None or value == "":
        return None
    try:
        return to_decimal(value, "max_credits")
    except PriceConfigError as exc:
        raise ValueError(str(exc)) from None


@dataclass
class SpendGuard:
    """The spend checks of one ``execute`` (see the module docstring)."""

    log: Any
    estimate: Estimate
    key: str
    budget: BudgetConfig | None = None
    ledger: S3Ledger | None = None
    #: The reservation this try holds (between :meth:`reserve` and :meth:`settle`).
    current: SpendRecord | None = None

    # ---- 1. before any request --------------------------------------------------------------

    @classmethod
    def check(
        cls,
        *,
        log: Any,
        conn_id: str,
        request: RequestModel,
        context: Any,
        max_credits: Decimal | None,
        allow_unpriced: bool,
    ) -> SpendGuard:
        """Estimate ``request`` and refuse it, before anything is sent, when it breaks the cap."""
        from airflow.sdk import BaseHook

        extra = BaseHook.get_connection(conn_id).extra_dejson or {}
        try:
            prices = PriceTable.from_extra(extra)
            budget = BudgetConfig.from_extra(extra, conn_id)
        except PriceConfigError as exc:
            raise AirflowFailException(f"Connection {conn_id!r}: {exc}. Nothing was sent.") from None
        est = estimate(request, prices)  # type: ignore[arg-type]
        log.info("Estimated cost: %s", est.describe())
        if not est.priced and not allow_unpriced and (max_credits is not None or budget is not None):
            if max_credits is not None:
                limit = f"max_credits={fmt(max_credits)}"
            else:
                if budget is None:
                    raise RuntimeError("internal error: budget is unset")  # an invariant, kept under python -O
                limit = budget.describe(budget.period_id())
            raise AirflowFailException(
                f"Not submitting: the request is {est.describe()}, so {limit} cannot be enforced. Add a price "
                "for the model under the connection's extra 'prices', or set allow_unpriced=True. Nothing was sent."
            )
        if max_credits is not None and est.credits is not None and est.credits > max_credits:
            raise AirflowFailException(
                f"Not submitting: the request would cost {est.describe()}, more than max_credits={fmt(max_credits)}. "
                "Nothing was sent."
            )
        ledger = S3Ledger(budget) if budget is not None else None
        key = task_instance_key(context) if budget is not None else ""  # only a ledger needs it
        return cls(log=log, estimate=est, key=key, budget=budget, ledger=ledger)

    # ---- 2. before the create -----------------------------------------------------------------

    def reserve(self, store: Any) -> None:
        """Hold the estimate in the budget's ledger (no-op without a budget); fail when it does not fit."""
        if self.ledger is None or self.budget is None:
            return
        earlier = _load(store.get(SPEND_KEY)) if store is not None else None
        amount = self.estimate.credits if self.estimate.credits is not None else Decimal(0)
        while True:
            if earlier is not None and earlier.state == "reserved":
                record = earlier
                self.log.info(
                    "Re-using reservation %s of %s credits left by an earlier try (it never settled)",
                    record.reservation_id,
                    fmt(record.estimate),
                )
            else:
                seq = earlier.seq + 1 if earlier is not None else 1
                record = SpendRecord(
                    reservation_id=f"{self.key}#{seq}",
                    period_id=self.budget.period_id(),
                    budget=self.budget.name,
                    seq=seq,
                    state="reserved",
                    estimate=amount,
                )
            try:
                entry = self.ledger.reserve(
                    record.reservation_id,
                    record.estimate,
                    period_id=record.period_id,
                    what=f"this request ({self.estimate.describe()})",
                )
            except BudgetExhaustedError as exc:
                # Fail without retry: the budget will not have grown by the next try.
                raise AirflowFailException(str(exc)) from None
            if entry.state == "reserved":
                break
            # The ledger already finished this id (the store lost track of it): take the next one.
            self.log.warning("Reservation %s is already %s; taking a new one", record.reservation_id, entry.state)
            earlier = record.model_copy(update={"state": entry.state})
        if store is not None:
            store.set(SPEND_KEY, record.model_dump(mode="json"))
        self.current = record
        self.log.info(
            "Reserved %s credits in %s as %s (%d conflicting ledger write(s) retried)",
            fmt(record.estimate),
            self.budget.describe(record.period_id),
            record.reservation_id,
            self.ledger.conflicts,
        )

    # ---- 3. after the create --------------------------------------------------------------------

    def settle(self, store: Any, task: VideoTask) -> None:
        """Log the gateway's reserved credits beside the estimate; settle the reservation with them."""
        reported = self._reported(task, task.credits_reserved)
        self._compare(task, reported)
        if self.ledger is not None and self.current is not None:
            self._settle(store, self.current, task, reported)
            self.current = None

    def settle_reattached(self, store: Any, task: VideoTask, recorded_credits: float | None) -> None:
        """On re-attach: settle a reservation an earlier try left ``reserved`` (it crashed after the create)."""
        if self.ledger is None or store is None:
            return
        earlier = _load(store.get(SPEND_KEY))
        if earlier is None or earlier.state != "reserved":
            return
        credits = task.credits_reserved if task.credits_reserved is not None else recorded_credits
        reported = self._reported(task, credits)
        self.log.info(
            "Settling reservation %s left by an earlier try, which ended after creating remote task %s",
            earlier.reservation_id,
            task.id,
        )
        self._settle(store, earlier, task, reported)

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
        entry = self.ledger.settle(
            record.reservation_id, amount, period_id=record.period_id, remote_id=task.id, note=note
        )
        if store is not None:
            store.set(SPEND_KEY, record.model_copy(update={"state": "settled"}).model_dump(mode="json"))
        self.log.info(
            "Settled reservation %s at %s credits (remote task %s)%s",
            record.reservation_id,
            fmt(entry.credits if entry.credits is not None else amount),
            task.id,
            f"; {note}, the estimate is kept" if note else "",
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
