"""Payment terms and due dates (issue 19, item 1; D365 "terms of payment").

Terms ("Net 30": 30 days after the order date; "End of month + 15"; "Due on
fulfilment": 0 days after the order is fulfilled) are assigned to a customer, a
credit group or a channel; the most specific applies (customer over group over the
channel's default); inactive terms are skipped.

An order *placed on terms*: an order of a customer in a credit-management channel
that owes something when it is placed (unpaid in a pay-later channel, or paid on
account) and whose terms resolve. It gets an `OrderTerms` row with a snapshot of the
terms and its due date (for the fulfilment basis: set when Saleor reports the order
fulfilled). *Overdue* = owing something after its due date; the "overdue amount" rule
counts those orders, and orders without terms by age as before (the fallback); the
"days overdue" rule looks at the order furthest past its due date.

Events, each once per order (`process_due_dates`, a periodic task):
`store_credit.order_due` when the due date is reached (on the due date, or the first
run after it) while something is owed; `store_credit.order_overdue` the first run
after the due date while something is still owed. Dates are in Saleor's time zone
(`TIME_ZONE`, UTC in Saleor's settings).
"""

import calendar
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from ..errors import NotFound, StoreCreditError, StoreCreditErrorCode
from ..ledger import Actor
from ..money import quantum
from . import audit
from . import exposure as exp
from .models import AuditKind
from .terms_models import (
    MAX_TERMS_DAYS,
    OrderTerms,
    PaymentTerms,
    PaymentTermsAssignment,
    TermsBasis,
    TermsSource,
)

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("payment terms")
METADATA_KEY = "store_credit.due_date"
SOURCE_RANK = {TermsSource.CUSTOMER: 3, TermsSource.GROUP: 2, TermsSource.CHANNEL: 1}


# --- terms and who has which ------------------------------------------------------------


def _name(value) -> str:
    name = (value or "").strip()
    if not name:
        raise StoreCreditError("name is required.", field="name",
                               code=StoreCreditErrorCode.REQUIRED)
    if len(name) > 255:
        raise StoreCreditError("name is too long (max 255).", field="name")
    return name


def _days(value) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreCreditError("days must be a whole number.", field="days")
    if not 0 <= value <= MAX_TERMS_DAYS:
        raise StoreCreditError(f"days must be between 0 and {MAX_TERMS_DAYS}.",
                               field="days")
    return value


def terms_data(terms: PaymentTerms) -> dict:
    return {"terms_id": terms.pk, "name": terms.name, "basis": terms.basis,
            "days": terms.days, "is_active": terms.is_active}


def save_terms(*, actor: Actor, name, basis=TermsBasis.ORDER_DATE, days=0,
               description: str = "", is_active: bool = True, terms_id=None) -> PaymentTerms:
    """Create or change terms. A change applies to orders placed afterwards: orders
    already placed keep the terms (and due date) they were placed on."""
    name = _name(name)
    if basis not in TermsBasis.values:
        raise StoreCreditError("Unknown basis.", field="basis")
    days = _days(days)
    description = (description or "").strip()
    if len(description) > 1000:
        raise StoreCreditError("description is too long (max 1000).", field="description")
    with transaction.atomic():
        taken = PaymentTerms.objects.filter(name=name)
        if terms_id is None:
            if taken.exists():
                raise StoreCreditError("Payment terms with this name exist.", field="name")
            terms = PaymentTerms.objects.create(
                name=name, basis=basis, days=days, description=description,
                is_active=bool(is_active))
        else:
            terms = PaymentTerms.objects.select_for_update().filter(pk=terms_id).first()
            if terms is None:
                raise NotFound("Payment terms not found.", field="id")
            if taken.exclude(pk=terms.pk).exists():
                raise StoreCreditError("Payment terms with this name exist.", field="name")
            terms.name, terms.basis, terms.days = name, basis, days
            terms.description, terms.is_active = description, bool(is_active)
            terms.save()
        audit.record(AuditKind.TERMS_CHANGED, actor, f"Payment terms '{name}' saved.",
                     data=terms_data(terms))
    return terms


def delete_terms(*, actor: Actor, terms_id) -> None:
    """Delete terms and their assignments; placed orders keep their snapshot."""
    with transaction.atomic():
        terms = PaymentTerms.objects.select_for_update().filter(pk=terms_id).first()
        if terms is None:
            raise NotFound("Payment terms not found.", field="id")
        data = {**terms_data(terms), "assignments": terms.assignments.count()}
        terms.delete()
        audit.record(AuditKind.TERMS_CHANGED, actor,
                     f"Payment terms '{data['name']}' deleted.", data=data)


def assign_terms(*, actor: Actor, terms: PaymentTerms | None, user=None, group=None,
                 channel_slug: str | None = None) -> PaymentTermsAssignment | None:
    """Give one customer, credit group or channel (its default) these terms;
    `terms=None` removes the assignment."""
    owners = [o for o in (user, group, channel_slug or None) if o is not None]
    if len(owners) != 1:
        raise StoreCreditError("Give exactly one of customer, group or channel.",
                               field="customerId")
    if channel_slug:
        from saleor.channel.models import Channel

        if not Channel.objects.filter(slug=channel_slug).exists():
            raise NotFound("Channel not found.", field="channel")
    owner = ({"user": user} if user is not None else {"group": group} if group is not None
             else {"channel_slug": channel_slug})
    with transaction.atomic():
        existing = PaymentTermsAssignment.objects.select_for_update().filter(**owner).first()
        before = existing.terms.name if existing else None
        if terms is None:
            if existing is not None:
                existing.delete()
            row = None
        elif existing is None:
            row = PaymentTermsAssignment.objects.create(terms=terms, **owner)
        else:
            existing.terms = terms
            existing.save(update_fields=["terms", "updated_at"])
            row = existing
        who = (f"customer {user.email}" if user is not None else
               f"group '{group.name}'" if group is not None else f"channel {channel_slug}")
        audit.record(
            AuditKind.TERMS_CHANGED, actor,
            f"Payment terms of {who}: {before or 'none'} → "
            f"{terms.name if terms else 'none'}.",
            user_id=user.pk if user is not None else None,
            group_id=group.pk if group is not None else None,
            data={"before": before, "after": terms.name if terms else None,
                  "channel": channel_slug or None},
        )
    return row


@dataclass(frozen=True)
class ResolvedTerms:
    terms: PaymentTerms
    source: str


def terms_for(*, user_id, group_id, channel_slug) -> ResolvedTerms | None:
    """The active terms that apply: the customer's, else their group's, else the
    channel's default. One query."""
    who = Q(channel_slug=channel_slug) if channel_slug else Q(pk__in=[])
    if user_id is not None:
        who |= Q(user_id=user_id)
    if group_id is not None:
        who |= Q(group_id=group_id)
    best = None
    for row in PaymentTermsAssignment.objects.filter(who, terms__is_active=True
                                                     ).select_related("terms"):
        source = (TermsSource.CUSTOMER if row.user_id else
                  TermsSource.GROUP if row.group_id else TermsSource.CHANNEL)
        if best is None or SOURCE_RANK[source] > SOURCE_RANK[best.source]:
            best = ResolvedTerms(row.terms, source)
    return best


def due_date_for(basis: str, days: int, placed_at, fulfilled_at=None) -> date | None:
    """The due date of terms `basis` + `days` for an order placed (and fulfilled) then;
    None while a fulfilment-basis order is not fulfilled."""
    if basis == TermsBasis.FULFILMENT:
        if fulfilled_at is None:
            return None
        return timezone.localdate(fulfilled_at) + timedelta(days=days)
    placed = timezone.localdate(placed_at)
    if basis == TermsBasis.END_OF_MONTH:
        last = calendar.monthrange(placed.year, placed.month)[1]
        return placed.replace(day=last) + timedelta(days=days)
    return placed + timedelta(days=days)


def describe(basis: str, days: int) -> str:
    if basis == TermsBasis.FULFILMENT:
        return "on fulfilment" if days == 0 else f"{days} days after fulfilment"
    if basis == TermsBasis.END_OF_MONTH:
        return f"{days} days after the end of the month"
    return f"{days} days after the order date"


# --- orders -------------------------------------------------------------------------------


def order_owed(order_id) -> Decimal:
    """What one Saleor order owes now (credit/exposure.py `_unpaid`)."""
    from saleor.order.models import Order

    owed = Order.objects.filter(pk=order_id).annotate(
        sc_owed=exp.unpaid_expression()).values_list("sc_owed", flat=True).first()
    return owed or Decimal(0)


def _flag(order, value: str) -> None:
    """The due date in the order's private metadata (shown in the Dashboard)."""
    from saleor.order.models import Order

    locked = Order.objects.select_for_update().only("pk", "private_metadata").get(pk=order.pk)
    locked.store_value_in_private_metadata({METADATA_KEY: value})
    locked.save(update_fields=["private_metadata", "updated_at"])
    order.private_metadata = locked.private_metadata


def _note(order, message: str) -> None:
    from saleor.order.events import order_note_added_event

    order_note_added_event(order=order, user=None, app=None, message=message)


def _due_text(row: OrderTerms) -> str:
    return row.due_date.isoformat() if row.due_date else "on fulfilment"


def on_order_created(order, settings) -> OrderTerms | None:
    """Record the terms a new order is placed on and its due date (exactly once:
    one row per order)."""
    if order.user_id is None or not settings.credit_checks_in(order.channel.slug):
        return None
    profile = exp.profile_for(order.user_id)
    resolved = terms_for(user_id=order.user_id, group_id=profile.group_id if profile else None,
                         channel_slug=order.channel.slug)
    if resolved is None:
        return None
    owed = order_owed(order.pk)
    if owed <= 0:
        return None  # paid up front: nothing is on terms
    terms = resolved.terms
    placed_at = order.created_at or timezone.now()
    with transaction.atomic():
        row, created = OrderTerms.objects.get_or_create(
            order_id=order.pk,
            defaults={
                "order_number": order.number, "user_id": order.user_id,
                "channel_slug": order.channel.slug, "currency": order.currency,
                "terms": terms, "terms_name": terms.name, "basis": terms.basis,
                "days": terms.days, "source": resolved.source, "placed_at": placed_at,
                "due_date": due_date_for(terms.basis, terms.days, placed_at),
            },
        )
        if not created:
            return row
        _flag(order, _due_text(row))
        _note(order, f"Payment terms {terms.name} ({describe(terms.basis, terms.days)}): "
                     f"due {_due_text(row)}.")
        audit.record(
            AuditKind.ORDER_TERMS, SYSTEM,
            f"Order placed on {terms.name}, due {_due_text(row)}.",
            order_id=order.pk, user_id=order.user_id,
            data={**terms_data(terms), "source": resolved.source,
                  "due_date": row.due_date.isoformat() if row.due_date else None,
                  "owed": str(owed.quantize(quantum(order.currency)))},
        )
    return row


def _fulfilled_at(order_id):
    from saleor.order.models import Fulfillment

    return (Fulfillment.objects.filter(order_id=order_id).order_by("-created_at")
            .values_list("created_at", flat=True).first())


def set_fulfilment_due_date(order_id, fulfilled_at=None) -> OrderTerms | None:
    """A fulfilment-basis order was fulfilled: its due date runs from then (once)."""
    from saleor.order.models import Order

    with transaction.atomic():
        row = OrderTerms.objects.select_for_update().filter(
            order_id=order_id, basis=TermsBasis.FULFILMENT, due_date__isnull=True).first()
        if row is None:
            return None
        row.fulfilled_at = fulfilled_at or _fulfilled_at(order_id) or timezone.now()
        row.due_date = due_date_for(row.basis, row.days, row.placed_at, row.fulfilled_at)
        row.save(update_fields=["fulfilled_at", "due_date"])
        order = Order.objects.filter(pk=order_id).first()
        if order is not None:
            _flag(order, _due_text(row))
            _note(order, f"Order fulfilled: payment ({row.terms_name}) due {_due_text(row)}.")
        audit.record(AuditKind.ORDER_TERMS, SYSTEM,
                     f"Order fulfilled; due {_due_text(row)} ({row.terms_name}).",
                     order_id=row.order_id, user_id=row.user_id,
                     data={"due_date": row.due_date.isoformat(), "basis": row.basis,
                           "days": row.days})
    return row


def on_order_fulfilled(order) -> OrderTerms | None:
    if not OrderTerms.objects.filter(order_id=order.pk, basis=TermsBasis.FULFILMENT,
                                     due_date__isnull=True).exists():
        return None
    return set_fulfilment_due_date(order.pk)


def mark_paid_if_settled(order_id, now=None) -> bool:
    """Note when an order on terms stopped owing (the 'days to pay' of its terms)."""
    if order_owed(order_id) > 0:
        return False
    return bool(OrderTerms.objects.filter(order_id=order_id, paid_at__isnull=True)
                .update(paid_at=now or timezone.now()))


# --- what is overdue (read by the blocking rules) -----------------------------------------


def _terms_of_order():
    return OrderTerms.objects.filter(order_id=OuterRef("pk"))


def overdue_amount(user_ids, currency: str, *, today: date, created_before) -> Decimal:
    """What open orders owe past their due date; orders without terms count when older
    than `created_before` (the age-based fallback). Fulfilment-basis orders not yet
    fulfilled are not due."""
    if not user_ids:
        return Decimal(0)
    qs = exp.open_orders(user_ids, currency).annotate(
        sc_on_terms=Exists(_terms_of_order()),
        sc_due=Subquery(_terms_of_order().values("due_date")[:1]),
    ).filter(Q(sc_on_terms=True, sc_due__lt=today)
             | Q(sc_on_terms=False, created_at__lt=created_before))
    return qs.aggregate(total=Sum(exp.unpaid_expression()))["total"] or Decimal(0)


@dataclass(frozen=True)
class Overdue:
    days: int
    order_number: int
    due_date: date
    owed: Decimal


def most_days_overdue(user_ids, currency: str, *, today: date) -> Overdue | None:
    """The open order that owes something and is furthest past its due date."""
    if not user_ids:
        return None
    row = (
        exp.open_orders(user_ids, currency)
        .annotate(sc_due=Subquery(_terms_of_order().values("due_date")[:1]),
                  sc_owed=exp.unpaid_expression())
        .filter(sc_due__lt=today, sc_owed__gt=0)
        .order_by("sc_due", "number").values("number", "sc_due", "sc_owed").first()
    )
    if row is None:
        return None
    return Overdue((today - row["sc_due"]).days, row["number"], row["sc_due"], row["sc_owed"])


# --- the periodic task: due dates, due and overdue events ----------------------------------


def status_of(row: OrderTerms, owed: Decimal, today: date, order_status: str | None) -> str:
    if order_status is None or order_status not in exp.OPEN_STATUSES:
        return "closed"
    if owed <= 0:
        return "paid"
    if row.due_date is None:
        return "awaiting_fulfilment"
    if row.due_date < today:
        return "overdue"
    if row.due_date == today:
        return "due"
    return "not_due"


def _event_data(row: OrderTerms, owed: Decimal, today: date) -> dict:
    return {
        "order_number": row.order_number, "channel": row.channel_slug,
        "terms": row.terms_name, "due_date": row.due_date.isoformat(),
        "days_overdue": max((today - row.due_date).days, 0),
        "owed": str(owed.quantize(quantum(row.currency))),
    }


def _announce(row: OrderTerms, field: str, kind: str, event: str, owed, now, today) -> bool:
    """Send `event` for the order once: the conditional update is the guard."""
    if not OrderTerms.objects.filter(pk=row.pk, **{f"{field}__isnull": True}).update(
            **{field: now}):
        return False
    what = "due" if event == "order_due" else "overdue"
    audit.record(
        kind, SYSTEM,
        f"Order {row.order_number} is {what}: {owed.quantize(quantum(row.currency))} "
        f"{row.currency} unpaid, due {row.due_date.isoformat()} ({row.terms_name}).",
        event=event, currency=row.currency, order_id=row.order_id, user_id=row.user_id,
        data=_event_data(row, owed, today),
    )
    return True


def process_due_dates(now=None, *, limit: int = 1000) -> dict:
    """Fulfilment due dates Saleor's hook missed, paid orders, then `order_due` and
    `order_overdue`, each once per order."""
    from saleor.order.models import Fulfillment, Order

    now = now or timezone.now()
    today = timezone.localdate(now)
    counts = {"due_dates_set": 0, "paid": 0, "due": 0, "overdue": 0}
    fulfilled = OrderTerms.objects.filter(
        basis=TermsBasis.FULFILMENT, due_date__isnull=True,
        order_id__in=Order.objects.filter(status="fulfilled").values("id"))
    for order_id in list(fulfilled.values_list("order_id", flat=True)[:limit]):
        latest = (Fulfillment.objects.filter(order_id=order_id).order_by("-created_at")
                  .values_list("created_at", flat=True).first())
        if set_fulfilment_due_date(order_id, latest):
            counts["due_dates_set"] += 1
    orders = Order.objects.filter(pk=OuterRef("order_id"))
    candidates = (
        OrderTerms.objects.filter(paid_at__isnull=True)
        .filter(Exists(orders.filter(status__in=exp.OPEN_STATUSES)))
        .annotate(sc_owed=Subquery(orders.annotate(o=exp.unpaid_expression()).values("o")[:1]))
        .order_by("due_date", "pk")
    )
    for row in list(candidates[:limit]):
        owed = row.sc_owed or Decimal(0)
        try:
            with transaction.atomic():
                if owed <= 0:
                    counts["paid"] += OrderTerms.objects.filter(
                        pk=row.pk, paid_at__isnull=True).update(paid_at=now)
                    continue
                if row.due_date is None or row.due_date > today:
                    continue
                if row.due_notified_at is None and _announce(
                        row, "due_notified_at", AuditKind.ORDER_DUE, "order_due", owed,
                        now, today):
                    counts["due"] += 1
                if row.due_date < today and row.overdue_notified_at is None and _announce(
                        row, "overdue_notified_at", AuditKind.ORDER_OVERDUE,
                        "order_overdue", owed, now, today):
                    counts["overdue"] += 1
        except Exception:  # one bad order must not stop the pass
            logger.exception("Due-date check of order %s failed", row.order_id)
    return counts
