"""Finance reports straight from the ledger, and the nightly reconciliation."""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, DecimalField, Q, Sum, Value, When

from .ledger import ledger_verify
from .models import Entry, EntryDirection, EntryKind, LedgerCheck
from .money import quantum
from .signals import store_credit_event

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
# Orphaned balances kept with each reconciliation result (the summary counts them all).
MAX_ORPHANED_LISTED = 1000


@dataclass
class LiabilityRow:
    currency: str
    opening: Decimal      # outstanding credit at the start of the period
    issued: Decimal       # staff credits, credit memos, gift cards converted
    refunded: Decimal     # store-credit payments refunded back to balances
    reversed: Decimal     # failed or voided payouts put back
    spent: Decimal        # paid orders with store credit
    paid_out: Decimal     # reimbursement payouts
    expired: Decimal
    deducted: Decimal     # staff deductions
    closing: Decimal      # outstanding credit at the end of the period
    written_off: Decimal = ZERO  # orphaned balances written off by staff
    orphaned: Decimal = ZERO     # part of `closing` owed to customers Saleor deleted

    def balanced(self) -> bool:
        inflow = self.issued + self.refunded + self.reversed
        outflow = (self.spent + self.paid_out + self.expired + self.deducted
                   + self.written_off)
        return self.opening + inflow - outflow == self.closing


def _sum(kind=None, direction=None, when=None):
    condition = Q() if when is None else when
    if kind is not None:
        condition &= Q(kind__in=kind if isinstance(kind, (list, tuple)) else [kind])
    if direction is not None:
        condition &= Q(direction=direction)
    return Sum(Case(When(condition, then="amount"), default=Value(ZERO),
                    output_field=DecimalField(max_digits=30, decimal_places=4)))


MOVEMENTS = ("issued", "refunded", "reversed", "spent", "paid_out", "expired", "deducted",
             "written_off")


def _movement_sums(when=None) -> dict:
    credit, debit = EntryDirection.CREDIT, EntryDirection.DEBIT
    return {
        "issued": _sum([EntryKind.ADJUSTMENT, EntryKind.CREDIT_MEMO, EntryKind.GIFT_CARD],
                       credit, when),
        "refunded": _sum(EntryKind.REFUND, credit, when),
        "reversed": _sum(EntryKind.PAYOUT_REVERSAL, credit, when),
        "spent": _sum(EntryKind.PAYMENT, debit, when),
        "paid_out": _sum(EntryKind.PAYOUT, debit, when),
        "expired": _sum(EntryKind.EXPIRY, debit, when),
        "deducted": _sum(EntryKind.ADJUSTMENT, debit, when),
        "written_off": _sum(EntryKind.WRITE_OFF, debit, when),
    }


def _movements(entries, *group_by):
    return entries.values(*group_by).annotate(**_movement_sums()).order_by(*group_by)


@dataclass
class ChannelMovementRow:
    currency: str
    channel: str  # "" for movements with no order (staff, gift cards, payouts, expiry)
    issued: Decimal
    refunded: Decimal
    reversed: Decimal
    spent: Decimal
    paid_out: Decimal
    expired: Decimal
    deducted: Decimal
    written_off: Decimal


def movements_by_channel(*, start: datetime, end: datetime, currency: str | None = None):
    """The period's movements split by the Saleor channel of the order they belong to.

    Balances themselves have no channel (an account is usable in every channel of its
    currency, SPEC §1), so only movements tied to an order (spent, refunded, credit
    memos) carry one; the rest are reported under the empty channel."""
    from django.db.models import OuterRef, Subquery

    from saleor.order.models import Order

    entries = Entry.objects.filter(created_at__gte=start, created_at__lt=end)
    if currency:
        entries = entries.filter(account__currency=currency.upper())
    entries = entries.annotate(
        channel=Subquery(Order.objects.filter(pk=OuterRef("order_id")).values("channel__slug")[:1])
    )
    rows = []
    for row in _movements(entries, "account__currency", "channel"):
        q = quantum(row["account__currency"])
        rows.append(ChannelMovementRow(
            currency=row["account__currency"], channel=row["channel"] or "",
            **{k: (row[k] or ZERO).quantize(q) for k in MOVEMENTS},
        ))
    return rows


def liability_report(*, start: datetime, end: datetime, currency: str | None = None):
    """Outstanding store credit and its movements in [start, end), per currency.

    One pass over the entries before `end`: the opening balance, the period's
    movements and the part owed to deleted customers are sums over the same rows."""
    entries = Entry.objects.filter(created_at__lt=end)
    if currency:
        entries = entries.filter(account__currency=currency.upper())
    credit, debit = EntryDirection.CREDIT, EntryDirection.DEBIT
    before = Q(created_at__lt=start)
    # Owed to deleted customers at the end of the period (accounts detached from their
    # user by Saleor's customer deletion, privacy.py).
    orphaned = Q(account__user__isnull=True)
    rows = []
    for row in entries.values("account__currency").annotate(
        opening_in=_sum(direction=credit, when=before),
        opening_out=_sum(direction=debit, when=before),
        orphaned_in=_sum(direction=credit, when=orphaned),
        orphaned_out=_sum(direction=debit, when=orphaned),
        **_movement_sums(when=Q(created_at__gte=start)),
    ).order_by("account__currency"):
        cur = row["account__currency"]
        q = quantum(cur)
        values = {k: (row[k] or ZERO).quantize(q) for k in MOVEMENTS}
        start_balance = ((row["opening_in"] or ZERO) - (row["opening_out"] or ZERO)).quantize(q)
        closing = (start_balance + values["issued"] + values["refunded"] + values["reversed"]
                   - values["spent"] - values["paid_out"] - values["expired"]
                   - values["deducted"] - values["written_off"])
        owed = ((row["orphaned_in"] or ZERO) - (row["orphaned_out"] or ZERO)).quantize(q)
        rows.append(LiabilityRow(currency=cur, opening=start_balance, closing=closing,
                                 orphaned=owed, **values))
    return rows


def liability_csv(rows: list[LiabilityRow]) -> str:
    from .csv_export import to_csv

    fields = list(LiabilityRow.__dataclass_fields__)
    return to_csv(fields, ([getattr(row, k) for k in fields] for row in rows))


def reconcile() -> LedgerCheck:
    """Run `ledger_verify()`, keep the result, and raise the alarm on drift."""
    report = ledger_verify()
    drift = [
        {"account_id": d.account_id, "currency": d.currency,
         "stored_balance": str(d.stored_balance), "computed_balance": str(d.computed_balance),
         "stored_held": str(d.stored_held), "computed_held": str(d.computed_held)}
        for d in report.account_drift
    ] + [
        {"hold_id": d.hold_id, "status": d.status, "amount": str(d.amount),
         "captured_amount": str(d.captured_amount), "entries_total": str(d.entries_total)}
        for d in report.hold_drift
    ]
    orphaned = [
        {"account_id": o.account_id, "currency": o.currency,
         "balance": str(o.balance.quantize(quantum(o.currency))),
         "former_user_id": o.former_user_id}
        for o in report.orphaned[:MAX_ORPHANED_LISTED]
    ]
    check = LedgerCheck.objects.create(
        ok=report.ok, accounts_checked=report.accounts_checked, drift=drift,
        orphaned=orphaned,
    )
    if report.ok:
        logger.info(report.summary())
    else:
        logger.error("%s: %s", report.summary(), drift[:20])
        store_credit_event.send(
            sender=LedgerCheck, event="ledger_drift", currency=None,
            data={"check_id": check.pk, "summary": report.summary(), "drift": drift[:100]},
        )
    return check
