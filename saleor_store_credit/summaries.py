"""What the Dashboard widgets show: read-only summaries of one customer's and one
order's store credit and credit hold (selectors; nothing here writes).

The widgets (`widgets.py`) sit on Saleor's customer and order detail pages; these
functions gather what they show in a few queries, from the same rows and rules the
API and the checks use (accounts, holds, entries, `credit/` limits and exposure).
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from .credit import exposure as exp
from .credit.holds import customer_subject
from .credit.models import (
    ACTIVE_HOLD_STATUSES,
    CreditLimit,
    OrderHold,
    TemporaryLimit,
)
from .credit.rules import Figures
from .models import Account, CreditMemo, Entry, EntryKind, Hold, HoldStatus

_ZERO = Decimal(0)


@dataclass(frozen=True)
class AccountFigures:
    currency: str
    balance: Decimal
    held: Decimal  # reserved by checkouts and unconfirmed orders
    available: Decimal
    expiring: Decimal


@dataclass(frozen=True)
class CreditFigures:
    """A customer's credit line in one currency (only where a limit is set)."""

    currency: str
    limit: Decimal | None  # None: unlimited
    temporary: bool
    exposure: Decimal
    available: Decimal | None  # None: unlimited


@dataclass(frozen=True)
class CustomerSummary:
    email: str
    accounts: list[AccountFigures]
    on_hold: bool
    on_hold_reason: str
    credit: list[CreditFigures]
    held_order_numbers: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class OrderSummary:
    number: int
    currency: str
    customer_id: int | None
    reserved: Decimal  # store credit authorized, not charged yet
    paid: Decimal  # store credit charged
    refunded: Decimal  # returned to the balance: refunds and credit memos
    credit_memos: int
    hold: OrderHold | None  # the active credit hold, else the latest one


def customer_summary(user, *, visible_orders=None) -> CustomerSummary:
    """`visible_orders`: a subquery of the order IDs the caller may see (channel
    access), or None for all; held orders outside it are not listed."""
    accounts = [
        AccountFigures(a.currency, a.balance, a.held, a.available, a.expiring)
        for a in Account.objects.filter(user_id=user.pk).order_by("currency")
    ]
    profile = exp.profile_for(user.pk)
    limit_currencies = set(
        CreditLimit.objects.filter(user_id=user.pk).values_list("currency", flat=True)
    ) | set(
        TemporaryLimit.objects.filter(user_id=user.pk, valid_to__gt=timezone.now())
        .values_list("currency", flat=True)
    )
    if profile and profile.group_id:
        limit_currencies |= set(
            CreditLimit.objects.filter(group_id=profile.group_id)
            .values_list("currency", flat=True)
        )
    credit = [_credit_figures(user.pk, currency, profile) for currency in sorted(limit_currencies)]
    held = OrderHold.objects.filter(user_id=user.pk, status__in=ACTIVE_HOLD_STATUSES)
    if visible_orders is not None:
        held = held.filter(order_id__in=visible_orders)
    return CustomerSummary(
        email=user.email,
        accounts=accounts,
        on_hold=bool(profile and profile.on_hold),
        on_hold_reason=profile.on_hold_reason if profile else "",
        credit=[c for c in credit if c is not None],
        held_order_numbers=sorted(n for n in held.values_list("order_number", flat=True) if n),
    )


def _credit_figures(user_id, currency: str, profile) -> CreditFigures | None:
    subject = customer_subject(
        user_id, currency, profile=profile, order_total=_ZERO, now=timezone.now()
    )
    figures = Figures(subject)
    limit = figures.customer_limit() or figures.group_limit()
    if limit is None:
        return None
    checks = figures.checks()  # finite limits: customer's, group's
    headroom = [max(lim.amount - exposure, _ZERO) for _who, exposure, lim in checks]
    return CreditFigures(
        currency=currency,
        limit=limit.amount,
        temporary=limit.temporary,
        exposure=figures.customer_exposure(),
        available=min(headroom) if headroom else None,
    )


def order_summary(order) -> OrderSummary:
    from saleor.payment.models import TransactionItem

    from .saleor_tx import GATEWAY_ID

    tokens = TransactionItem.objects.filter(
        order_id=order.pk, app_identifier=GATEWAY_ID
    ).values("token")
    reserved = Hold.objects.filter(
        transaction_id__in=tokens, status=HoldStatus.ACTIVE
    ).aggregate(total=Sum("amount"))["total"] or _ZERO
    sums = dict(
        Entry.objects.filter(
            order_id=order.pk,
            kind__in=[EntryKind.PAYMENT, EntryKind.REFUND, EntryKind.CREDIT_MEMO],
        )
        .values("kind")
        .annotate(total=Sum("amount"))
        .values_list("kind", "total")
    )
    hold = (
        OrderHold.objects.filter(order_id=order.pk, status__in=ACTIVE_HOLD_STATUSES).first()
        or OrderHold.objects.filter(order_id=order.pk).order_by("-pk").first()
    )
    return OrderSummary(
        number=order.number,
        currency=order.currency,
        customer_id=order.user_id,
        reserved=reserved,
        paid=sums.get(EntryKind.PAYMENT, _ZERO),
        refunded=sums.get(EntryKind.REFUND, _ZERO) + sums.get(EntryKind.CREDIT_MEMO, _ZERO),
        credit_memos=CreditMemo.objects.filter(order_id=order.pk).count(),
        hold=hold,
    )
