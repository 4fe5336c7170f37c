"""What the video operators call to spend safely: the cap and the budget around each create.

One :class:`SpendGuard` per ``execute``:

1. :meth:`SpendGuard.check` (before any request): estimate the request and read the cap and the
   budget. It refuses nothing yet: whether this try submits at all is decided first
   (:mod:`airflow_provider_videogen.operators.reattach`). **Re-attaching to, or re-using, a remote
   task an earlier try paid for costs nothing and is never refused by ``max_credits``, a missing
   price or a budget.**
2. :meth:`SpendGuard.reserve` (only when a create is about to be sent, before the in-flight
   marker): refuse a request over ``max_credits`` or unpriced under a cap/budget (unless
   ``allow_unpriced``); then hold the estimate in the key's ledger, or fail naming the budget,
   what is held and what this would cost. :meth:`SpendGuard.sending` marks the reservation as
   used by a create right before its first byte leaves.
3. :meth:`SpendGuard.settle` (after the create): log the gateway's ``credits_reserved`` beside
   the estimate (a warning when it is higher) and replace the estimate by it in the ledger;
   :meth:`SpendGuard.release` when the gateway provably refused the create.

**The reservation rules** (issue 21, points 1-3):

* **One create, one reservation.** Every create that may bill holds its own reservation, checked
  against the budget before it is sent. A reservation whose create *may have been sent* (an
  answer lost, a process killed after sending) stays held as it is; the next submission
  (``on_uncertain_submission="resubmit"``, ``durable=False``, an edited request) takes a *new*
  reservation, checked against the budget. So the ledger over-counts a create that never billed,
  never under-counts one that did.
* **One reservation, one request.** A reservation records its request's fingerprint. It is
  re-used by a later try only when nothing was sent under it and the request is the same (a try
  that crashed between reserving and sending); for an edited request it is released (nothing was
  sent) and a new one taken.
* **One reservation, one remote task.** The record of a remote task names the reservation it was
  sent under, and re-attaching settles exactly that one. The ledger refuses to settle an entry for
  a second remote task, or to count one remote task under two entries
  (:class:`~airflow_provider_videogen.spend.ledger.ReservationConflictError`).
* **Ids unique across deployments and run incarnations**: see :mod:`.reservation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.spend import amounts
from airflow_provider_videogen.spend.estimate import Estimate, estimate, fmt
from airflow_provider_videogen.spend.ledger import (
    BudgetConfig,
    BudgetExhaustedError,
    ReservationConflictError,
    S3Ledger,
)
from airflow_provider_videogen.spend.prices import PriceConfigError, PriceTable, to_decimal
from airflow_provider_videogen.spend.reservation import SPEND_KEY, SpendRecord, _load, new_nonce, task_instance_key
from airflow_provider_videogen.spend.settlement import SettlementSteps

if TYPE_CHECKING:
    from pydantic import BaseModel as RequestModel

__all__ = ["SPEND_KEY", "SpendGuard", "SpendRecord", "check_max_credits", "new_nonce", "task_instance_key"]


def check_max_credits(value: Any) -> Decimal | None:
    """``max_credits`` as a Decimal (``None``: no cap); a clear error for anything else."""
    if value is None or value == "":
        return None
    try:
        return to_decimal(value, "max_credits")
    except PriceConfigError as exc:
        raise ValueError(str(exc)) from None


@dataclass
class SpendGuard(SettlementSteps):
    """The spend checks of one ``execute`` (see the module docstring)."""

    log: Any
    estimate: Estimate
    key: str
    budget: BudgetConfig | None = None
    ledger: S3Ledger | None = None
    #: The fingerprint of the request this ``execute`` would submit.
    fingerprint: str | None = None
    #: Why a create must not be sent (over the cap, unpriced, broken configuration); ``None``: it may.
    refusal: str | None = None
    #: The reservation this try holds (between :meth:`reserve` and :meth:`settle`).
    current: SpendRecord | None = None
    #: A paid create's reservation could not be settled (the ledger could not be written): the
    #: task must complete in a worker, which settles it (:func:`.resume.settle_left`).
    unsettled: bool = False

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
        """Estimate ``request`` and decide whether a create of it may be sent (enforced by :meth:`reserve`)."""
        from airflow.sdk import BaseHook

        from airflow_provider_videogen.operators.reattach import fingerprint

        extra = BaseHook.get_connection(conn_id).extra_dejson or {}
        try:
            prices = PriceTable.from_extra(extra)
            budget = BudgetConfig.from_extra(extra, conn_id)
        except PriceConfigError as exc:
            # Refused at submission only: a re-attach needs no price and must not be blocked.
            unknown = Estimate(str(getattr(request, "model", "?")), None, None, str(exc))
            broken = f"Connection {conn_id!r}: {exc}. Nothing was sent."
            return cls(log=log, estimate=unknown, key="", fingerprint=fingerprint(request), refusal=broken)
        try:
            est = estimate(request, prices)  # type: ignore[arg-type]
        except amounts.AmountError as exc:
            # An estimate beyond any amount counted (a price meant per video, set per second): a new
            # create is refused, but an earlier try's video is still collected for free.
            unknown = Estimate(str(getattr(request, "model", "?")), None, None, str(exc))
            return cls(
                log=log, estimate=unknown, key="", fingerprint=fingerprint(request), refusal=f"Not submitting: {exc}"
            )
        log.info("Estimated cost: %s", est.describe())
        refusal: str | None = None
        if not est.priced and not allow_unpriced and (max_credits is not None or budget is not None):
            if max_credits is not None:
                limit = f"max_credits={fmt(max_credits)}"
            else:
                if budget is None:
                    raise RuntimeError("internal error: budget is unset")  # an invariant, kept under python -O
                limit = budget.describe(budget.period_id())
            refusal = (
                f"Not submitting: the request is {est.describe()}, so {limit} cannot be enforced. Add a price "
                "for the model under the connection's extra 'prices', or set allow_unpriced=True. Nothing was sent."
            )
        elif max_credits is not None and est.credits is not None and est.credits > max_credits:
            refusal = (
                f"Not submitting: the request would cost {est.describe()}, more than max_credits={fmt(max_credits)}. "
                "Nothing was sent."
            )
        ledger = S3Ledger(budget) if budget is not None else None
        key = task_instance_key(context) if budget is not None else ""  # only a ledger needs it
        return cls(
            log=log,
            estimate=est,
            key=key,
            budget=budget,
            ledger=ledger,
            fingerprint=fingerprint(request),
            refusal=refusal,
        )

    # ---- 2. before the create -----------------------------------------------------------------

    def reserve(self, store: Any) -> None:
        """Refuse a create over the cap; hold its estimate in the budget's ledger, or fail when it does not fit.

        Called only when a create is about to be sent (never on re-attach). Applies the reservation
        rules of the module docstring: re-use a reservation nothing was sent under for the same
        request, release one nothing was sent under for another request, leave one that may be
        billing held, and take a new one, checked against the budget.
        """
        if self.refusal is not None:
            raise AirflowFailException(self.refusal)  # nothing sent; a retry would be refused the same way
        if self.ledger is None or self.budget is None:
            return
        earlier = _load(store.get(SPEND_KEY)) if store is not None else None
        nonce = earlier.nonce if earlier is not None and earlier.nonce else new_nonce()
        seq = earlier.seq if earlier is not None else 0
        record = self._reuse(earlier) if earlier is not None and earlier.state == "reserved" else None
        amount = self.estimate.credits if self.estimate.credits is not None else Decimal(0)
        while record is None:
            seq += 1
            candidate = SpendRecord(
                reservation_id=f"{self.key}#{seq}.{nonce}",
                period_id=self.budget.period_id(),
                budget=self.budget.name,
                seq=seq,
                state="reserved",
                estimate=amount,
                fingerprint=self.fingerprint,
                nonce=nonce,
                sent=False,
            )
            if store is not None:
                # Recorded before the ledger write: a worker killed right after it leaves an entry
                # the next try knows (nothing was sent under it), so it is re-used or released,
                # never left held for good with nobody able to name it.
                store.set(SPEND_KEY, candidate.model_dump(mode="json"))
            try:
                self.ledger.reserve(
                    candidate.reservation_id,
                    amount,
                    period_id=candidate.period_id,
                    what=f"this request ({self.estimate.describe()})",
                    fingerprint=self.fingerprint,
                    new=True,
                )
            except BudgetExhaustedError as exc:
                # Fail without retry: the budget will not have grown by the next try.
                raise AirflowFailException(str(exc)) from None
            except ReservationConflictError as exc:
                # The store lost track of it (a crash between the ledger write and the store write):
                # nobody can tell whether a create was sent under it, so it stays as it is.
                self.log.warning("%s; taking the next reservation id", exc)
                continue
            record = candidate
        if store is not None:
            store.set(SPEND_KEY, record.model_dump(mode="json"))
        self.current = record
        self.log.info(
            "Reserved %s credits in %s as %s for request %s (%d conflicting ledger write(s) retried)",
            fmt(record.estimate),
            self.budget.describe(record.period_id),
            record.reservation_id,
            record.fingerprint,
            self.ledger.conflicts,
        )

    def _reuse(self, earlier: SpendRecord) -> SpendRecord | None:
        """The earlier try's ``reserved`` reservation, if this create may use it; else ``None`` (take a new one)."""
        if self.ledger is None:
            raise RuntimeError("internal error: self.ledger is unset")  # an invariant, kept under python -O
        if earlier.sent or earlier.nonce is None:
            self.log.warning(
                "Reservation %s (%s credits) stays held: a create may have been sent under it and may be billing. "
                "This submission takes its own reservation.",
                earlier.reservation_id,
                fmt(earlier.estimate),
            )
            return None
        if self.budget is None:
            raise RuntimeError("internal error: self.budget is unset")  # an invariant, kept under python -O
        period = self.budget.period_id()
        if earlier.fingerprint != self.fingerprint or earlier.period_id != period:
            # Nothing was sent under it: free it, and take a new one checked against the budget of
            # the period the create is sent in (a reservation of last month must not carry a
            # create sent this month: this month's budget would never see it).
            why = "the request changed" if earlier.fingerprint != self.fingerprint else f"the budget period is {period}"
            self.ledger.release(
                earlier.reservation_id,
                period_id=earlier.period_id,
                reason=f"nothing was sent under it; {why}",
            )
            self.log.info(
                "Released reservation %s: nothing was sent under it, and %s (request %s -> %s)",
                earlier.reservation_id,
                why,
                earlier.fingerprint,
                self.fingerprint,
            )
            return None
        try:
            entry = self.ledger.reserve(
                earlier.reservation_id,
                earlier.estimate,
                period_id=earlier.period_id,
                what=f"this request ({self.estimate.describe()})",
                fingerprint=self.fingerprint,
            )
        except BudgetExhaustedError as exc:  # the ledger lost the entry and the budget cannot hold it again
            raise AirflowFailException(str(exc)) from None
        except ReservationConflictError as exc:
            self.log.warning("%s; taking a new reservation", exc)
            return None
        if entry.state != "reserved":
            self.log.warning("Reservation %s is already %s; taking a new one", earlier.reservation_id, entry.state)
            return None
        self.log.info(
            "Re-using reservation %s of %s credits left by an earlier try (nothing was sent under it)",
            earlier.reservation_id,
            fmt(earlier.estimate),
        )
        return earlier

    def sending(self, store: Any) -> None:
        """The create is about to leave: from now on its reservation may be billing, and is never re-used."""
        if self.current is None or self.current.sent:
            return
        self.current = self.current.model_copy(update={"sent": True})
        if store is not None:
            store.set(SPEND_KEY, self.current.model_dump(mode="json"))

    # ---- 3. after the create: see :mod:`.settlement` -----------------------------------------
