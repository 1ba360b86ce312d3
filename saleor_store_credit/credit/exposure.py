"""What a customer (or credit group) owes: unpaid parts of open Saleor orders plus
checkouts that passed the credit check and are being completed.

Race safety: every evaluation takes a PostgreSQL transaction-level advisory lock on
the credit scope (the group if the customer has one, else the customer), and the
checkout check records a `CreditReservation` before the lock is released. A second
checkout of the same customer or group waits for the lock and then sees the first
one's reservation, so two checkouts cannot both slip under one limit.
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from ..ledger.locks import LockSpace, advisory_xact_lock
from ..models import MONEY
from .models import CreditProfile, CreditReservation

# Order statuses whose unpaid part counts. Drafts, cancelled, expired and returned
# orders owe nothing; "partially fulfilled" is spelt with a space in Saleor.
OPEN_STATUSES = (
    "unconfirmed", "unfulfilled", "partially fulfilled", "fulfilled", "partially_returned",
)
RESERVATION_MINUTES = 15


def profile_for(user_id) -> CreditProfile | None:
    if user_id is None:
        return None
    return CreditProfile.objects.filter(user_id=user_id).select_related("group").first()


def scope_user_ids(user_id, group_id) -> list[int]:
    """The customers whose orders count together: the group's members, or one."""
    if group_id is None:
        return [user_id] if user_id is not None else []
    members = list(
        CreditProfile.objects.filter(group_id=group_id).values_list("user_id", flat=True)
    )
    return sorted(set(members) | ({user_id} if user_id is not None else set()))


def lock_scope(user_id, group_id) -> None:
    """Serialize credit evaluations of one customer/group until the transaction ends."""
    if group_id is not None:
        advisory_xact_lock(LockSpace.CREDIT_GROUP, group_id)
    elif user_id is not None:
        advisory_xact_lock(LockSpace.CREDIT_CUSTOMER, user_id)
    # guests share nothing


def _unpaid():
    zero = Value(Decimal(0), output_field=DecimalField(**MONEY))
    return Greatest(
        ExpressionWrapper(
            F("total_gross_amount") - F("total_charged_amount") - F("total_authorized_amount"),
            output_field=DecimalField(**MONEY),
        ),
        zero,
    )


def open_orders(user_ids, currency: str):
    from saleor.order.models import Order

    return Order.objects.filter(
        user_id__in=user_ids, currency=currency, status__in=OPEN_STATUSES
    )


def orders_exposure(user_ids, currency: str, *, created_before=None) -> Decimal:
    """Σ max(total − charged − authorized, 0) over open orders; card- or credit-paid
    orders add nothing."""
    if not user_ids:
        return Decimal(0)
    qs = open_orders(user_ids, currency)
    if created_before is not None:
        qs = qs.filter(created_at__lt=created_before)
    return qs.aggregate(total=Sum(_unpaid()))["total"] or Decimal(0)


def reservations_exposure(user_ids, currency: str, *, excluding_checkout=None, now=None):
    if not user_ids:
        return Decimal(0)
    qs = CreditReservation.objects.filter(
        user_id__in=user_ids, currency=currency, expires_at__gt=now or timezone.now()
    )
    if excluding_checkout is not None:
        qs = qs.filter(~Q(checkout_token=excluding_checkout))
    return qs.aggregate(total=Sum("amount"))["total"] or Decimal(0)


def reserve(checkout_token, user_id, currency: str, amount: Decimal, now=None) -> None:
    """Record a checkout's exposure until its order exists (call under the lock)."""
    expires_at = (now or timezone.now()) + timedelta(minutes=RESERVATION_MINUTES)
    CreditReservation.objects.bulk_create(
        [CreditReservation(checkout_token=checkout_token, user_id=user_id,
                           currency=currency, amount=amount, expires_at=expires_at)],
        update_conflicts=True, unique_fields=["checkout_token"],
        update_fields=["user", "currency", "amount", "expires_at"],
    )


def drop_reservation(checkout_token) -> None:
    if checkout_token:
        CreditReservation.objects.filter(checkout_token=checkout_token).delete()


def purge_reservations(now=None) -> int:
    deleted, _ = CreditReservation.objects.filter(
        expires_at__lte=now or timezone.now()
    ).delete()
    return deleted


def overdue_by_customer(currency: str, *, now=None, grace_days: int = 0, user_ids=None
                        ) -> dict[int, tuple[Decimal, int]]:
    """Per customer with unpaid open orders in `currency`: (overdue amount, days
    overdue), in one grouped query. `user_ids` None: every customer.

    The one definition of "overdue" the risk scores and forced holds use. Today an
    order is due when it is placed (there are no payment terms yet), so its days
    overdue are its age in days, and the overdue amount counts the unpaid part of
    orders more than `grace_days` overdue: the rule `OVERDUE_AMOUNT` with `days`
    (orders older than N days) reads the same. Days overdue are those of the oldest
    unpaid order. When orders get due dates, this is the place that changes.
    """
    from django.db.models import Case, Min, When

    now = now or timezone.now()
    cutoff = now - timedelta(days=grace_days)
    qs = open_orders(user_ids, currency) if user_ids is not None else _all_open_orders(currency)
    rows = (
        qs.annotate(unpaid=_unpaid()).filter(unpaid__gt=0).order_by()
        .values("user_id")
        .annotate(
            amount=Sum(Case(When(created_at__lt=cutoff, then=F("unpaid")),
                            default=Value(Decimal(0)), output_field=DecimalField(**MONEY))),
            oldest=Min("created_at"),
        )
    )
    return {
        row["user_id"]: (row["amount"] or Decimal(0), max((now - row["oldest"]).days, 0))
        for row in rows
    }


def _all_open_orders(currency: str):
    from saleor.order.models import Order

    return Order.objects.filter(
        user_id__isnull=False, currency=currency, status__in=OPEN_STATUSES
    )
