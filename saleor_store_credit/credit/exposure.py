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

from django.db.models import DecimalField, ExpressionWrapper, F, OuterRef, Q, Sum, Value
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
    """What an order still owes. Pay on account (checkout/on_account.py) authorizes
    what the customer owes, so its open authorization counts as owed, not as paid;
    what was refunded or cancelled of it once the order existed is settled (a credit
    note, a return), as if paid:
    max(total − charged − authorized − settled on account, 0) + open on account."""
    from ..saleor_tx import ON_ACCOUNT_ID
    from ..queries import scalar
    from .terms_models import OnAccountEntry, OnAccountEntryKind

    from saleor.payment.models import TransactionItem

    money = DecimalField(**MONEY)
    zero = Value(Decimal(0), output_field=money)
    on_account_open = scalar(
        TransactionItem.objects.filter(order_id=OuterRef("pk"), app_identifier=ON_ACCOUNT_ID),
        "SUM", F("authorized_value"), default=0)
    on_account_settled = scalar(
        OnAccountEntry.objects.filter(
            order_id=OuterRef("pk"),
            kind__in=[OnAccountEntryKind.REFUND, OnAccountEntryKind.CANCELLED]),
        "SUM", F("amount"), default=0)
    return ExpressionWrapper(
        Greatest(
            ExpressionWrapper(
                F("total_gross_amount") - F("total_charged_amount")
                - F("total_authorized_amount") - on_account_settled,
                output_field=money,
            ),
            zero,
        ) + on_account_open,
        output_field=money,
    )


def unpaid_expression():
    """`_unpaid()` for querysets of Saleor orders (payment terms read it too)."""
    return _unpaid()


def open_orders(user_ids, currency: str):
    from saleor.order.models import Order

    return Order.objects.filter(
        user_id__in=user_ids, currency=currency, status__in=OPEN_STATUSES
    )


def orders_exposure(user_ids, currency: str, *, created_before=None) -> Decimal:
    """Σ of what open orders owe (`_unpaid`); card- or credit-paid orders add nothing,
    orders paid on account add their open invoice."""
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


def on_account_checkouts_exposure(user_ids, currency: str) -> Decimal:
    """What checkouts not yet turned into orders have authorized on account
    (checkout/on_account.py): owed as soon as they complete. Once the order exists
    Saleor has moved the transaction onto it (checkout_id NULL, order set, in the
    order's own transaction) and the order counts it instead, so nothing is counted
    twice; an authorization that lapses is cancelled and stops counting."""
    if not user_ids:
        return Decimal(0)
    from saleor.payment.models import TransactionItem

    from ..saleor_tx import ON_ACCOUNT_ID

    return TransactionItem.objects.filter(
        app_identifier=ON_ACCOUNT_ID, order_id__isnull=True, authorized_value__gt=0,
        checkout__user_id__in=user_ids, checkout__currency=currency,
    ).aggregate(total=Sum("authorized_value"))["total"] or Decimal(0)


def overdue_by_customer(currency: str, *, now=None, grace_days: int = 0, user_ids=None
                        ) -> dict[int, tuple[Decimal, int]]:
    """Per customer with unpaid open orders in `currency`: (overdue amount, days
    overdue), two grouped queries. `user_ids` None: every customer.

    The one definition of "overdue" the risk scores and forced holds use, the same as
    the blocking rules' (`credit/terms.py`, `overdue_amount`): an order on payment
    terms is overdue once its due date has passed (a fulfilment-basis order not yet
    fulfilled is not due); an order without terms is due when placed (its days overdue
    are its age). The amount counts the unpaid part of orders more than `grace_days`
    overdue; days overdue are those of the order longest overdue.
    """
    from django.db.models import Case, Exists, Min, Subquery, When

    from .terms_models import OrderTerms

    now = now or timezone.now()
    today = timezone.localdate(now)
    cutoff = now - timedelta(days=grace_days)
    qs = open_orders(user_ids, currency) if user_ids is not None else _all_open_orders(currency)
    terms = OrderTerms.objects.filter(order_id=OuterRef("pk"))
    qs = qs.annotate(unpaid=_unpaid(), sc_on_terms=Exists(terms)).filter(unpaid__gt=0)
    out: dict[int, tuple[Decimal, int]] = {}

    def add(user_id, amount, days):
        old_amount, old_days = out.get(user_id, (Decimal(0), 0))
        out[user_id] = (old_amount + (amount or Decimal(0)), max(old_days, days))

    for row in (
        qs.filter(sc_on_terms=False).order_by().values("user_id").annotate(
            amount=Sum(Case(When(created_at__lt=cutoff, then=F("unpaid")),
                            default=Value(Decimal(0)), output_field=DecimalField(**MONEY))),
            oldest=Min("created_at"),
        )
    ):
        add(row["user_id"], row["amount"], max((now - row["oldest"]).days, 0))
    due_before = today - timedelta(days=grace_days)
    for row in (
        qs.filter(sc_on_terms=True).annotate(
            sc_due=Subquery(terms.values("due_date")[:1])
        ).filter(sc_due__lt=today).order_by().values("user_id").annotate(
            amount=Sum(Case(When(sc_due__lt=due_before, then=F("unpaid")),
                            default=Value(Decimal(0)), output_field=DecimalField(**MONEY))),
            oldest=Min("sc_due"),
        )
    ):
        add(row["user_id"], row["amount"], (today - row["oldest"]).days)
    return out


def _all_open_orders(currency: str):
    from saleor.order.models import Order

    return Order.objects.filter(
        user_id__isnull=False, currency=currency, status__in=OPEN_STATUSES
    )
