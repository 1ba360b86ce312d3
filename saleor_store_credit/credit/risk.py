"""Risk scores, risk classes and automatic limits (issue 19, item 3).

Dynamics 365's model ("Scoring groups", "Risk classification", "Automatic credit
limits", "Update risk scores"), on Saleor data:

- A *scoring group* is a set of *score types*. Each type measures one thing about a
  customer (orders and their value over a period, average days to pay, share of
  orders refunded or returned, months as a customer, the current overdue amount, or
  a value staff set by hand), turns the value into points (0-100) through its value
  bands, and counts with its weight. The score is the weighted average of the points
  (types without data, e.g. no paid order yet, are left out), so it stays on the
  bands' 0-100 scale whatever the weights.
- The customer's *risk class* is the class with the highest minimum score at or below
  the score.
- The periodic task (`update_risk_scores`) scores customers in batches with grouped
  queries (one per measure per batch), writes each customer's score, and sends
  `store_credit.risk_class_changed` once per change: the customer's row is locked and
  re-read before it is compared, so two runs at once cannot both report one change.
- *Automatic limit rules* then propose limits per risk class as journal lines
  (status SUBMITTED), never posting: approval, four-eyes and posting are the
  journal's (`limits.advance_adjustment`). A database constraint allows one open
  generated line per customer and currency, so concurrent runs cannot both propose.
  The line's submitter is the rule's last editor: under four-eyes they cannot
  approve what their rule proposed.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from ..errors import NotFound, StoreCreditError, StoreCreditErrorCode
from ..ledger import Actor
from ..money import normalize_currency, parse_amount_or_zero, quantum, read_decimal
from . import audit
from . import exposure as exp
from .models import AdjustmentStatus, AuditKind, CreditLimit, CreditProfile, LimitAdjustment
from .risk_models import (
    AutomaticLimitRule,
    CustomerRiskScore,
    ManualScoreValue,
    RiskClass,
    RiskRunStatus,
    RiskScoreRun,
    ScoreKind,
    ScoreType,
    ScoringGroup,
)

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("risk scores")
ORIGIN = "risk_class"
OPEN_STATUSES = (AdjustmentStatus.DRAFT, AdjustmentStatus.SUBMITTED, AdjustmentStatus.APPROVED)
SUPERSEDED = ";superseded"
HUNDREDTH = Decimal("0.01")
MAX_BANDS = 50
MAX_SCORE_TYPES = 20
DEFAULT_PERIOD_DAYS = 365
# An order paid within this time of being placed was paid at checkout, not on terms.
PAID_AT_CHECKOUT = timedelta(minutes=5)
PERIOD_KINDS = (ScoreKind.ORDER_COUNT, ScoreKind.ORDER_VALUE, ScoreKind.AVERAGE_DAYS_TO_PAY,
                ScoreKind.REFUNDED_SHARE)
MONEY_KINDS = (ScoreKind.ORDER_VALUE, ScoreKind.OVERDUE_AMOUNT)
# Orders that were placed (drafts were not; cancelled and expired ones did not go ahead).
NOT_PLACED = ("draft", "canceled", "expired")


def _error(message, field, code=StoreCreditErrorCode.INVALID):
    return StoreCreditError(message, field=field, code=code)


def _decimal(value, field, *, places=2, minimum=None, maximum=None) -> Decimal:
    try:
        number = read_decimal(value, field=field)
    except StoreCreditError:
        raise _error(f"{field} must be a decimal number.", field) from None
    if not number.is_finite():
        raise _error(f"{field} must be a finite number.", field)
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise _error(f"{field} has at most {places} decimal places.", field)
    if minimum is not None and number < minimum:
        raise _error(f"{field} must be at least {minimum}.", field)
    if maximum is not None and number > maximum:
        raise _error(f"{field} must be at most {maximum}.", field)
    if abs(number) >= Decimal(10) ** 15:
        raise _error(f"{field} is too large.", field)
    return number


def _text(value, field, *, max_length=255, required=False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise _error(f"{field} is required.", field, StoreCreditErrorCode.REQUIRED)
    if len(value) > max_length:
        raise _error(f"{field} is too long (max {max_length}).", field)
    return value


# --- value bands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    low: Decimal | None  # inclusive; None: no lower end
    high: Decimal | None  # exclusive; None: no upper end
    points: Decimal

    def contains(self, value: Decimal) -> bool:
        return (self.low is None or value >= self.low) and (
            self.high is None or value < self.high)

    def as_json(self) -> dict:
        return {"from": None if self.low is None else str(self.low),
                "to": None if self.high is None else str(self.high),
                "points": str(self.points)}


def clean_bands(raw, field="bands") -> list[Band]:
    """Bands sorted by their lower end; refused: none, too many, bounds that are not
    numbers or negative (no measure is negative), from ≥ to, points outside 0-100,
    overlaps (a value would be in two bands)."""
    if not raw:
        raise _error("A score type needs at least one value band.", field,
                     StoreCreditErrorCode.REQUIRED)
    if len(raw) > MAX_BANDS:
        raise _error(f"At most {MAX_BANDS} bands.", field)
    bands = []
    for index, item in enumerate(raw):
        where = f"{field}[{index}]"
        low = item.get("from")
        high = item.get("to")
        low = None if low in (None, "") else _decimal(low, f"{where}.from", places=4,
                                                     minimum=Decimal(0))
        high = None if high in (None, "") else _decimal(high, f"{where}.to", places=4,
                                                       minimum=Decimal(0))
        if item.get("points") in (None, ""):
            raise _error("Each band needs points (0-100).", f"{where}.points",
                         StoreCreditErrorCode.REQUIRED)
        points = _decimal(item.get("points"), f"{where}.points", minimum=Decimal(0),
                          maximum=Decimal(100))
        if low is not None and high is not None and low >= high:
            raise _error("A band's 'from' must be below its 'to'.", f"{where}.to")
        bands.append(Band(low, high, points))
    bands.sort(key=lambda b: (b.low is not None, b.low or Decimal(0)))
    for before, after in zip(bands, bands[1:]):
        if after.low is None or before.high is None or after.low < before.high:
            raise _error(
                "Value bands overlap: each value may fall in one band only "
                f"({_band_text(before)} and {_band_text(after)}).", field)
    return bands


def _band_text(band: Band) -> str:
    low = "…" if band.low is None else str(band.low.normalize())
    high = "…" if band.high is None else str(band.high.normalize())
    return f"[{low}, {high})"


def bands_of(score_type: ScoreType) -> list[Band]:
    return [
        Band(None if b.get("from") is None else Decimal(b["from"]),
             None if b.get("to") is None else Decimal(b["to"]),
             Decimal(b["points"]))
        for b in score_type.bands
    ]


# --- setup: scoring groups, risk classes, rules, manual values ---------------------------


def _clean_score_type(data: dict, index: int) -> dict:
    where = f"scoreTypes[{index}]"
    kind = data.get("kind")
    if kind not in ScoreKind.values:
        raise _error("Unknown score type kind.", f"{where}.kind")
    if data.get("weight") in (None, ""):
        raise _error("A score type needs a weight.", f"{where}.weight",
                     StoreCreditErrorCode.REQUIRED)
    weight = _decimal(data.get("weight"), f"{where}.weight")
    if not Decimal(0) < weight <= Decimal(1000):
        raise _error("Weight must be above 0 and at most 1000.", f"{where}.weight")
    values = {
        "kind": kind, "name": _text(data.get("name"), f"{where}.name"), "weight": weight,
        "period_days": None, "days": None, "currency": "", "manual_key": "",
        "bands": [b.as_json() for b in clean_bands(data.get("bands"), f"{where}.bands")],
        "position": index,
    }
    if kind in PERIOD_KINDS:
        period = data.get("period_days")
        period = DEFAULT_PERIOD_DAYS if period is None else period
        if not isinstance(period, int) or not 1 <= period <= 3660:
            raise _error("periodDays must be 1 to 3660.", f"{where}.periodDays")
        values["period_days"] = period
    if kind in MONEY_KINDS:
        if not data.get("currency"):
            raise _error("A money score type needs a currency.", f"{where}.currency",
                         StoreCreditErrorCode.REQUIRED)
        values["currency"] = normalize_currency(data["currency"], field=f"{where}.currency")
    if kind == ScoreKind.OVERDUE_AMOUNT:
        days = data.get("days")
        days = 0 if days is None else days
        if not isinstance(days, int) or not 0 <= days <= 3660:
            raise _error("days must be 0 to 3660.", f"{where}.days")
        values["days"] = days
    if kind == ScoreKind.MANUAL:
        key = _text(data.get("manual_key"), f"{where}.manualKey", max_length=64,
                    required=True)
        values["manual_key"] = key.lower()
    return values


def save_scoring_group(*, actor: Actor, name, description="", credit_group=None,
                       is_active=True, score_types=(), group_id=None) -> ScoringGroup:
    """Create or replace a scoring group with its score types (validated first)."""
    name = _text(name, "name", required=True)
    if not score_types:
        raise _error("A scoring group needs at least one score type.", "scoreTypes",
                     StoreCreditErrorCode.REQUIRED)
    if len(score_types) > MAX_SCORE_TYPES:
        raise _error(f"At most {MAX_SCORE_TYPES} score types.", "scoreTypes")
    types = [_clean_score_type(dict(data), index) for index, data in enumerate(score_types)]
    with transaction.atomic():
        if group_id is None:
            group = ScoringGroup()
        else:
            group = ScoringGroup.objects.select_for_update().filter(pk=group_id).first()
            if group is None:
                raise NotFound("Scoring group not found.", field="id")
        clash = ScoringGroup.objects.exclude(pk=group.pk)
        if clash.filter(name=name).exists():
            raise _error("A scoring group with this name exists.", "name")
        if clash.filter(credit_group=credit_group).exists():
            raise _error(
                "Another scoring group already scores "
                + (f"credit group '{credit_group.name}'." if credit_group else
                   "the customers outside credit groups (the default)."),
                "creditGroupId")
        group.name, group.description = name, _text(description, "description",
                                                    max_length=2000)
        group.credit_group, group.is_active = credit_group, bool(is_active)
        group.save()
        group.score_types.all().delete()
        ScoreType.objects.bulk_create(ScoreType(scoring_group=group, **t) for t in types)
        audit.record(
            AuditKind.RISK_SETUP_CHANGED, actor, f"Scoring group '{name}' saved.",
            group_id=credit_group.pk if credit_group else None,
            data={"scoring_group_id": group.pk, "is_active": group.is_active,
                  "score_types": [_json_type(t) for t in types]},
        )
    return group


def _json_type(values: dict) -> dict:
    return {key: (str(value) if isinstance(value, Decimal) else value)
            for key, value in values.items()}


def delete_scoring_group(group_id, *, actor: Actor) -> None:
    with transaction.atomic():
        group = ScoringGroup.objects.select_for_update().filter(pk=group_id).first()
        if group is None:
            raise NotFound("Scoring group not found.", field="id")
        audit.record(AuditKind.RISK_SETUP_CHANGED, actor,
                     f"Scoring group '{group.name}' deleted.",
                     data={"scoring_group_id": group.pk})
        group.delete()


def save_risk_class(*, actor: Actor, name, min_score, description="", class_id=None
                    ) -> RiskClass:
    name = _text(name, "name", max_length=64, required=True)
    if min_score in (None, ""):
        raise _error("A risk class needs a minimum score (0-100).", "minScore",
                     StoreCreditErrorCode.REQUIRED)
    minimum = _decimal(min_score, "minScore", minimum=Decimal(0), maximum=Decimal(100))
    with transaction.atomic():
        if class_id is None:
            row = RiskClass()
        else:
            row = RiskClass.objects.select_for_update().filter(pk=class_id).first()
            if row is None:
                raise NotFound("Risk class not found.", field="id")
        others = RiskClass.objects.exclude(pk=row.pk)
        if others.filter(name=name).exists():
            raise _error("A risk class with this name exists.", "name")
        if others.filter(min_score=minimum).exists():
            raise _error("Another risk class starts at this score; each score belongs "
                         "to one class.", "minScore")
        row.name, row.min_score = name, minimum
        row.description = _text(description, "description", max_length=2000)
        row.save()
        audit.record(AuditKind.RISK_SETUP_CHANGED, actor, f"Risk class '{name}' saved.",
                     data={"risk_class_id": row.pk, "min_score": str(minimum)})
    return row


def delete_risk_class(class_id, *, actor: Actor) -> None:
    from .models import BlockingRule
    from .risk_models import ForcedHoldRule

    with transaction.atomic():
        row = RiskClass.objects.select_for_update().filter(pk=class_id).first()
        if row is None:
            raise NotFound("Risk class not found.", field="id")
        # A rule narrowed to the class would silently widen to everyone without it.
        in_use = (BlockingRule.objects.filter(risk_class=row).exists()
                  or AutomaticLimitRule.objects.filter(risk_class=row).exists()
                  or ForcedHoldRule.objects.filter(risk_class=row).exists())
        if in_use:
            raise _error("Rules use this risk class; change or delete them first.", "id",
                         StoreCreditErrorCode.INVALID_STATUS)
        audit.record(AuditKind.RISK_SETUP_CHANGED, actor, f"Risk class '{row.name}' deleted.",
                     data={"risk_class_id": row.pk})
        row.delete()


def save_automatic_limit_rule(*, actor: Actor, name, risk_class, currency, amount=None,
                              unlimited=False, condition_kind="", condition_min=None,
                              condition_key="", valid_days=None, is_active=True,
                              rule_id=None) -> AutomaticLimitRule:
    name = _text(name, "name", required=True)
    if risk_class is None:
        raise _error("An automatic limit rule needs a risk class.", "riskClassId",
                     StoreCreditErrorCode.REQUIRED)
    currency = normalize_currency(currency)
    if unlimited:
        if amount not in (None, ""):
            raise _error("Give an amount or unlimited, not both.", "amount")
        value = None
    elif amount in (None, ""):
        raise _error("An amount (0 = no credit) or unlimited is required.", "amount",
                     StoreCreditErrorCode.REQUIRED)
    else:
        value = parse_amount_or_zero(amount, currency)
    condition_kind = condition_kind or ""
    if condition_kind:
        if condition_kind not in ScoreKind.values:
            raise _error("Unknown condition kind.", "conditionKind")
        if condition_min in (None, ""):
            raise _error("A condition needs conditionMin.", "conditionMin",
                         StoreCreditErrorCode.REQUIRED)
        condition_min = _decimal(condition_min, "conditionMin", places=4,
                                 minimum=Decimal(0))
        condition_key = (condition_key or "").strip().lower()
        if condition_kind == ScoreKind.MANUAL and not condition_key:
            raise _error("A condition on a manual value needs its key.", "conditionKey",
                         StoreCreditErrorCode.REQUIRED)
        if condition_kind != ScoreKind.MANUAL:
            condition_key = ""
    elif condition_min not in (None, ""):
        raise _error("conditionMin needs a conditionKind.", "conditionKind",
                     StoreCreditErrorCode.REQUIRED)
    else:
        condition_min, condition_key = None, ""
    if valid_days is not None and not 1 <= valid_days <= 3660:
        raise _error("validDays must be 1 to 3660.", "validDays")
    with transaction.atomic():
        if rule_id is None:
            rule = AutomaticLimitRule()
        else:
            rule = AutomaticLimitRule.objects.select_for_update().filter(pk=rule_id).first()
            if rule is None:
                raise NotFound("Automatic limit rule not found.", field="id")
        rule.name, rule.risk_class, rule.currency, rule.amount = name, risk_class, currency, value
        rule.condition_kind, rule.condition_min = condition_kind, condition_min
        rule.condition_key = condition_key
        rule.valid_days, rule.is_active = valid_days, bool(is_active)
        # the rule's editor is the proposer of the lines it generates
        rule.actor_type, rule.actor_id, rule.actor_label = actor.type, actor.id, actor.label
        rule.save()
        audit.record(
            AuditKind.RISK_SETUP_CHANGED, actor, f"Automatic limit rule '{name}' saved.",
            data={"automatic_limit_rule_id": rule.pk, "risk_class": risk_class.name,
                  "currency": currency, "amount": _money_text(value, currency),
                  "condition_kind": condition_kind,
                  "condition_min": None if condition_min is None else str(condition_min),
                  "condition_key": condition_key,
                  "valid_days": valid_days, "is_active": rule.is_active},
        )
    return rule


def delete_automatic_limit_rule(rule_id, *, actor: Actor) -> None:
    with transaction.atomic():
        rule = AutomaticLimitRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound("Automatic limit rule not found.", field="id")
        audit.record(AuditKind.RISK_SETUP_CHANGED, actor,
                     f"Automatic limit rule '{rule.name}' deleted.",
                     data={"automatic_limit_rule_id": rule.pk})
        rule.delete()


def set_manual_score(*, actor: Actor, user, key, value) -> ManualScoreValue | None:
    """Set (or, with value None, clear) a customer's value for MANUAL score types."""
    key = _text(key, "key", max_length=64, required=True).lower()
    number = None if value in (None, "") else _decimal(value, "value", places=4)
    with transaction.atomic():
        row = ManualScoreValue.objects.select_for_update().filter(user=user, key=key).first()
        before = None if row is None else str(row.value)
        if number is None:
            if row is not None:
                row.delete()
            row = None
        else:
            row = row or ManualScoreValue(user=user, key=key)
            row.value = number
            row.actor_type, row.actor_id, row.actor_label = actor.type, actor.id, actor.label
            row.save()
        audit.record(
            AuditKind.MANUAL_SCORE_SET, actor, f"Manual score value '{key}' set.",
            user_id=user.pk,
            data={"key": key, "before": before, "after": None if number is None else str(number)},
        )
    return row


def _money_text(amount, currency) -> str | None:
    return None if amount is None else str(amount.quantize(quantum(currency)))


# --- measuring: one grouped query per measure and batch ----------------------------------


def _placed_orders(user_ids, since):
    from saleor.order.models import Order

    return Order.objects.filter(user_id__in=user_ids, created_at__gte=since).exclude(
        status__in=NOT_PLACED)


def _grouped(qs, **aggregate) -> dict:
    name = next(iter(aggregate))
    return {row["user_id"]: row[name]
            for row in qs.order_by().values("user_id").annotate(**aggregate)}


def order_counts(user_ids, since) -> dict:
    return _grouped(_placed_orders(user_ids, since), n=Count("pk"))


def order_values(user_ids, since, currency) -> dict:
    return _grouped(_placed_orders(user_ids, since).filter(currency=currency),
                    total=Sum("total_gross_amount"))


def average_days_to_pay(user_ids, since) -> dict:
    """Per customer: the average days from placing an order to it being fully paid,
    over the orders placed in the period that were paid later than
    `PAID_AT_CHECKOUT` after placement (paid later, not at checkout).

    An order on payment terms counts by its terms' own clock: placed to the moment
    nothing was owed on it any more (`OrderTerms.paid_at`). Any other order by
    Saleor's: its first "fully paid" or "marked as paid" order event."""
    from django.db.models import DurationField, ExpressionWrapper
    from django.db.models.functions import Extract

    from saleor.order import OrderEvents
    from saleor.order.models import OrderEvent

    from .terms_models import OrderTerms

    def seconds(later, earlier):
        return Extract(ExpressionWrapper(F(later) - F(earlier),
                                         output_field=DurationField()), "epoch")

    on_terms = OrderTerms.objects.filter(
        user_id__in=user_ids, placed_at__gte=since, paid_at__isnull=False,
        paid_at__gt=F("placed_at") + PAID_AT_CHECKOUT,
    ).annotate(seconds=seconds("paid_at", "placed_at"))
    paid = OrderEvent.objects.filter(
        order_id=OuterRef("pk"),
        type__in=[OrderEvents.ORDER_FULLY_PAID, OrderEvents.ORDER_MARKED_AS_PAID],
    ).order_by("date").values("date")[:1]
    others = (
        _placed_orders(user_ids, since)
        .exclude(pk__in=OrderTerms.objects.filter(user_id__in=user_ids).values("order_id"))
        .annotate(paid_at=Subquery(paid))
        .filter(paid_at__gt=F("created_at") + PAID_AT_CHECKOUT)
        .annotate(seconds=seconds("paid_at", "created_at"))
    )
    totals: dict = {}
    for qs in (on_terms, others):
        for row in qs.order_by().values("user_id").annotate(
                total=Sum("seconds"), n=Count("pk")):
            if row["total"] is None:
                continue
            total, n = totals.get(row["user_id"], (Decimal(0), 0))
            totals[row["user_id"]] = (total + Decimal(str(row["total"])), n + row["n"])
    return {
        user_id: (total / n / 86400).quantize(HUNDREDTH)
        for user_id, (total, n) in totals.items() if n
    }


def refunded_shares(user_ids, since) -> dict:
    """Percent of the orders placed in the period that were (partly) refunded or
    returned: Saleor's return statuses, refund/return order events, or a successful
    refund on one of the order's transactions."""
    from saleor.order import OrderEvents
    from saleor.order.models import OrderEvent
    from saleor.payment import TransactionEventType
    from saleor.payment.models import TransactionEvent

    refunded = (
        Q(status__in=["returned", "partially_returned"])
        | Exists(OrderEvent.objects.filter(order_id=OuterRef("pk"), type__in=[
            OrderEvents.PAYMENT_REFUNDED, OrderEvents.FULFILLMENT_REFUNDED,
            OrderEvents.FULFILLMENT_RETURNED]))
        | Exists(TransactionEvent.objects.filter(
            transaction__order_id=OuterRef("pk"), type=TransactionEventType.REFUND_SUCCESS))
    )
    rows = (
        _placed_orders(user_ids, since).order_by().values("user_id")
        .annotate(placed=Count("pk"), refunded=Count("pk", filter=refunded))
    )
    return {
        row["user_id"]: (Decimal(row["refunded"] * 100) / row["placed"]).quantize(HUNDREDTH)
        for row in rows if row["placed"]
    }


def months_as_customer(user_ids, now) -> dict:
    """Whole months since the customer joined or first ordered, whichever is earlier."""
    from saleor.account.models import User
    from saleor.order.models import Order

    first_order = Order.objects.filter(user_id=OuterRef("pk")).exclude(
        status="draft").order_by().values("user_id").annotate(first=Min("created_at")
                                                             ).values("first")[:1]
    result = {}
    for pk, joined, first in User.objects.filter(pk__in=user_ids).annotate(
            first=Subquery(first_order)).values_list("pk", "date_joined", "first"):
        since = min(filter(None, (joined, first)), default=None)
        if since is None:
            continue
        months = (now.year - since.year) * 12 + now.month - since.month
        if (now.day, now.time()) < (since.day, since.time()):
            months -= 1
        result[pk] = Decimal(max(months, 0))
    return result


def manual_values(user_ids, key) -> dict:
    return dict(ManualScoreValue.objects.filter(user_id__in=user_ids, key=key)
                .values_list("user_id", "value"))


def overdue_amounts(user_ids, currency, grace_days, now) -> dict:
    found = exp.overdue_by_customer(currency, now=now, grace_days=grace_days,
                                    user_ids=user_ids)
    return {user_id: amount for user_id, (amount, _days) in found.items()}


class Measures:
    """The values of a batch of customers, one grouped query per distinct measure."""

    def __init__(self, user_ids, now):
        self.user_ids, self.now = list(user_ids), now
        self._cache: dict = {}

    def _get(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def value(self, t: ScoreType, user_id) -> Decimal | None:
        ids, now = self.user_ids, self.now
        since = now - timedelta(days=t.period_days or DEFAULT_PERIOD_DAYS)
        kind, zero = t.kind, Decimal(0)
        if kind == ScoreKind.ORDER_COUNT:
            found = self._get((kind, since), lambda: order_counts(ids, since))
            return Decimal(found.get(user_id, 0))
        if kind == ScoreKind.ORDER_VALUE:
            found = self._get((kind, since, t.currency),
                              lambda: order_values(ids, since, t.currency))
            return found.get(user_id) or zero
        if kind == ScoreKind.AVERAGE_DAYS_TO_PAY:
            return self._get((kind, since), lambda: average_days_to_pay(ids, since)).get(user_id)
        if kind == ScoreKind.REFUNDED_SHARE:
            return self._get((kind, since), lambda: refunded_shares(ids, since)).get(user_id)
        if kind == ScoreKind.MONTHS_AS_CUSTOMER:
            return self._get((kind,), lambda: months_as_customer(ids, now)).get(user_id)
        if kind == ScoreKind.OVERDUE_AMOUNT:
            found = self._get((kind, t.currency, t.days),
                              lambda: overdue_amounts(ids, t.currency, t.days or 0, now))
            return found.get(user_id) or zero
        if kind == ScoreKind.MANUAL:
            return self._get((kind, t.manual_key),
                             lambda: manual_values(ids, t.manual_key)).get(user_id)
        return None


# --- scoring --------------------------------------------------------------------------------


def score_of(types, value_of) -> tuple[Decimal | None, list[dict]]:
    """(score, details): Σ weight × points / Σ weight over the types with a value.
    A value in no band scores 0 points (cover the whole range with open ends)."""
    weighted = weights = Decimal(0)
    details = []
    for t in types:
        value = value_of(t)
        entry = {"score_type_id": t.pk, "kind": t.kind, "name": t.name,
                 "manual_key": t.manual_key, "weight": str(t.weight),
                 "value": None if value is None else str(value)}
        if value is None:
            entry.update(points=None, band=None)
        else:
            band = next((b for b in bands_of(t) if b.contains(value)), None)
            points = band.points if band else Decimal(0)
            entry.update(points=str(points), band=band.as_json() if band else None)
            weighted += t.weight * points
            weights += t.weight
        details.append(entry)
    if not weights:
        return None, details
    return (weighted / weights).quantize(HUNDREDTH), details


def class_for(score, classes) -> RiskClass | None:
    """The class with the highest minimum at or below the score (`classes` by min)."""
    if score is None:
        return None
    found = None
    for risk_class in classes:
        if risk_class.min_score <= score:
            found = risk_class
    return found


def class_of(user_id) -> int | None:
    """A customer's current risk class id (for rules narrowed to a class)."""
    if user_id is None:
        return None
    return CustomerRiskScore.objects.filter(user_id=user_id).values_list(
        "risk_class_id", flat=True).first()


def scored_customers():
    """Active customers that have placed an order or have credit settings."""
    from saleor.account.models import User
    from saleor.order.models import Order

    from .models import CreditLimit

    return User.objects.filter(is_active=True).filter(
        Exists(Order.objects.filter(user_id=OuterRef("pk")).exclude(status="draft"))
        | Exists(CreditProfile.objects.filter(user_id=OuterRef("pk")))
        | Exists(CreditLimit.objects.filter(user_id=OuterRef("pk")))
        | Exists(ManualScoreValue.objects.filter(user_id=OuterRef("pk")))
    ).order_by("pk")


def start_run(actor: Actor) -> RiskScoreRun:
    return RiskScoreRun.objects.create(**actor.entry_fields())


def update_risk_scores(*, actor: Actor = SYSTEM, run: RiskScoreRun | None = None,
                       batch_size: int = 500, now=None, progress=None) -> RiskScoreRun:
    """Score every customer, record class changes, then propose automatic limits.
    `progress(run)` is called after each batch (the run row is saved per batch)."""
    run = run or start_run(actor)
    actor = Actor(run.actor_type, run.actor_id, run.actor_label)
    now = now or timezone.now()
    try:
        groups = {
            g.credit_group_id: g for g in ScoringGroup.objects.filter(is_active=True)
            .prefetch_related("score_types")
        }
        classes = list(RiskClass.objects.order_by("min_score"))
        ids = list(scored_customers().values_list("pk", flat=True))
        RiskScoreRun.objects.filter(pk=run.pk).update(total=len(ids))
        run.total = len(ids)
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size]
            changes = _score_batch(batch, groups, classes, actor, now)
            run.processed += len(batch)
            run.class_changes += changes
            RiskScoreRun.objects.filter(pk=run.pk).update(
                processed=F("processed") + len(batch),
                class_changes=F("class_changes") + changes,
            )
            logger.info("Risk scores: %s/%s customers, %s class change(s)", run.processed,
                        run.total, run.class_changes)
            if progress:
                progress(run)
        run.proposals = propose_automatic_limits(actor=actor, now=now)
        run.status, run.finished_at = RiskRunStatus.COMPLETED, timezone.now()
        run.save(update_fields=["proposals", "status", "finished_at"])
    except Exception as exc:
        logger.exception("Risk score run %s failed", run.pk)
        RiskScoreRun.objects.filter(pk=run.pk).update(
            status=RiskRunStatus.FAILED, finished_at=timezone.now(), error=str(exc)[:2000])
        run.refresh_from_db()
        raise
    return run


def _score_batch(batch, groups, classes, actor, now) -> int:
    profiles = dict(CreditProfile.objects.filter(user_id__in=batch).values_list(
        "user_id", "group_id"))
    measures = Measures(batch, now)
    computed = {}
    for user_id in batch:
        group = groups.get(profiles.get(user_id)) or groups.get(None)
        types = list(group.score_types.all()) if group else []
        score, details = score_of(types, lambda t: measures.value(t, user_id))
        computed[user_id] = (group, score, details, class_for(score, classes))
    changes = 0
    with transaction.atomic():
        CustomerRiskScore.objects.bulk_create(
            [CustomerRiskScore(user_id=user_id) for user_id in batch], ignore_conflicts=True)
        # locked in user order and re-read under the lock: a run at the same time
        # waits here and then sees this run's classes, so a change is reported once
        rows = list(CustomerRiskScore.objects.select_for_update()
                    .filter(user_id__in=batch).order_by("user_id"))
        for row in rows:
            group, score, details, risk_class = computed[row.user_id]
            new_class = risk_class.pk if risk_class else None
            if new_class != row.risk_class_id:
                _class_changed(row, risk_class, score, actor, now)
                row.class_changed_at = now
                changes += 1
            row.scoring_group = group
            row.score, row.details, row.risk_class, row.computed_at = (
                score, details, risk_class, now)
        CustomerRiskScore.objects.bulk_update(
            rows, ["scoring_group", "score", "details", "risk_class", "computed_at",
                   "class_changed_at"])
    return changes


def _class_changed(row: CustomerRiskScore, risk_class, score, actor, now) -> None:
    before = RiskClass.objects.filter(pk=row.risk_class_id).values_list(
        "name", flat=True).first() if row.risk_class_id else None
    after = risk_class.name if risk_class else None
    audit.record(
        AuditKind.RISK_CLASS_CHANGED, actor,
        f"Risk class changed from {before or 'none'} to {after or 'none'} "
        f"(score {'none' if score is None else score}).",
        event="risk_class_changed", user_id=row.user_id,
        data={"customer_id": row.user_id, "previous_risk_class": before,
              "risk_class": after, "score": None if score is None else str(score),
              "previous_score": None if row.score is None else str(row.score),
              "computed_at": now.isoformat()},
    )


# --- automatic limits: proposals in the journal -----------------------------------------------


def _measured(details, kind, key="") -> Decimal | None:
    """The customer's measured value of `kind` (MANUAL: of that key) at the last score."""
    for entry in details or []:
        if entry.get("kind") != kind or entry.get("value") is None:
            continue
        if kind == ScoreKind.MANUAL and entry.get("manual_key", "") != key:
            continue
        return Decimal(entry["value"])
    return None


def _target(rules, details):
    """The rule whose limit applies: of the rules whose condition holds, the highest
    limit (unlimited highest), as D365's lines "5 years: 100,000; 10 years: 200,000"."""
    best = None
    for rule in rules:
        if rule.condition_kind:
            value = _measured(details, rule.condition_kind, rule.condition_key)
            if value is None or value < rule.condition_min:
                continue
        if best is None or best.amount is not None and (
                rule.amount is None or rule.amount > best.amount):
            best = rule
    return best


def _ref(rule, risk_class_id) -> str:
    amount = "unlimited" if rule.amount is None else str(rule.amount.quantize(
        quantum(rule.currency)))
    return f"rule:{rule.pk};class:{risk_class_id};amount:{amount}"


def propose_automatic_limits(*, actor: Actor = SYSTEM, now=None) -> int:
    """Journal lines for customers whose risk class's rules give another limit than
    their standing one. Returns how many lines were created."""
    now = now or timezone.now()
    rules: dict = {}
    for rule in AutomaticLimitRule.objects.filter(is_active=True).order_by("pk"):
        rules.setdefault(rule.risk_class_id, []).append(rule)
    wanted = {}  # (user_id, currency) -> (rule, ref)
    scores = CustomerRiskScore.objects.filter(risk_class_id__in=list(rules)).values_list(
        "user_id", "risk_class_id", "details")
    for user_id, class_id, details in scores.iterator():
        by_currency: dict = {}
        for rule in rules[class_id]:
            by_currency.setdefault(rule.currency, []).append(rule)
        for currency, candidates in by_currency.items():
            rule = _target(candidates, details)
            if rule is not None:
                wanted[(user_id, currency)] = (rule, _ref(rule, class_id))
    standing = {
        (row.user_id, row.currency): row for row in
        CreditLimit.objects.filter(user_id__isnull=False, user_id__in={u for u, _ in wanted})
    }
    open_lines = {
        (row.user_id, row.currency): row for row in
        LimitAdjustment.objects.filter(origin=ORIGIN, status__in=OPEN_STATUSES)
    }
    # stale proposals: the customer's class or the rules changed since
    for key, line in open_lines.items():
        target = wanted.get(key)
        if target is None or target[1] != line.origin_ref:
            _supersede(line.pk, actor)
    created = 0
    for (user_id, currency), (rule, ref) in wanted.items():
        current = standing.get((user_id, currency))
        if current is not None and current.amount == rule.amount:
            continue  # already the limit
        line = open_lines.get((user_id, currency))
        if line is not None and line.origin_ref == ref:
            continue  # proposed already, awaiting the journal
        if _rejected_by_staff(user_id, currency, ref):
            continue
        if _propose(user_id, currency, rule, ref, current, actor, now):
            created += 1
    return created


def _rejected_by_staff(user_id, currency, ref) -> bool:
    latest = LimitAdjustment.objects.filter(
        origin=ORIGIN, user_id=user_id, currency=currency).order_by("-pk").first()
    return bool(latest and latest.status == AdjustmentStatus.REJECTED
                and latest.origin_ref == ref)


def _supersede(line_id, actor) -> None:
    from .limits import adjustment_data

    with transaction.atomic():
        line = LimitAdjustment.objects.select_for_update().filter(
            pk=line_id, status__in=OPEN_STATUSES).first()
        if line is None:
            return  # staff moved it on meanwhile
        line.status = AdjustmentStatus.REJECTED
        line.origin_ref = (line.origin_ref + SUPERSEDED)[:255]
        line.save(update_fields=["status", "origin_ref"])
        audit.record(
            AuditKind.LIMIT_ADJUSTMENT, actor,
            "Limit adjustment rejected: superseded by a newer automatic proposal.",
            adjustment_id=line.pk, user_id=line.user_id, data=adjustment_data(line),
        )


def _propose(user_id, currency, rule, ref, current, actor, now) -> bool:
    from .limits import adjustment_data, amount_text

    proposer = f"{rule.actor_type}:{rule.actor_id}"
    amount = "unlimited" if rule.amount is None else f"{amount_text(rule.amount, currency)} {currency}"
    try:
        with transaction.atomic():
            line = LimitAdjustment.objects.create(
                **actor.entry_fields(), user_id=user_id, currency=currency,
                amount=rule.amount,
                expires_on=(now + timedelta(days=rule.valid_days)).date()
                if rule.valid_days else None,
                reason=f"Automatic limit for risk class {rule.risk_class.name} "
                       f"(rule '{rule.name}')"[:255],
                status=AdjustmentStatus.SUBMITTED, submitted_by=proposer, submitted_at=now,
                origin=ORIGIN, origin_ref=ref,
            )
            audit.record(
                AuditKind.LIMIT_PROPOSED, actor,
                f"Automatic limit proposed: {amount} (risk class {rule.risk_class.name}, "
                f"rule '{rule.name}' by {rule.actor_label or proposer}).",
                adjustment_id=line.pk, user_id=user_id,
                data={**adjustment_data(line), "automatic_limit_rule_id": rule.pk,
                      "risk_class": rule.risk_class.name, "proposed_by": proposer,
                      "current_amount": None if current is None else
                      amount_text(current.amount, currency)},
            )
    except IntegrityError:
        return False  # another run proposed for this customer and currency first
    return True
