"""Forced credit holds and "ready to release" (issue 19, item 5; D365 "Force credit
hold" and "Evaluate for release").

- Forced-hold rules name a condition (days overdue over N, overdue amount over a
  threshold, a risk class), optionally narrowed to a credit group and/or risk class.
  The periodic task (`apply_forced_holds`) finds the customers that meet one, with
  one grouped query per rule, and puts their account on forced credit hold: a
  `ForcedHold` row (one active per customer, a database constraint, so two runs at
  once place it once), an audit row and the `forced_hold_placed` webhook. The
  customer's orders already on credit hold become *forced*.
- While the account is on forced hold every new order is held (reason "Forced credit
  hold", rule type ACCOUNT_ON_HOLD, action HOLD), whatever the blocking rules say.
- A forced hold is never lifted or released by the system. Staff lift the account's
  hold (`lift`); the task then leaves the customer alone until the lift's review date,
  or, without a date, until the customer stops meeting the rules (then the lift is
  "re-armed" and a new breach places a new hold). Forced order holds are released by
  staff with the ordinary release.
- "Evaluate for release" (holds.recheck) marks a held order whose reasons no longer
  apply *ready to release*. It releases it only when the order is not forced and its
  channel is in "Release ready orders automatically in channels"; otherwise the order
  waits, marked, for staff.
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..errors import NotFound, StoreCreditError, StoreCreditErrorCode
from ..ledger import Actor
from ..money import normalize_currency, parse_amount_or_zero, quantum
from . import audit
from . import exposure as exp
from .models import ACTIVE_HOLD_STATUSES, AuditKind, CreditProfile, OrderHold
from .risk_models import (
    CustomerRiskScore,
    ForcedHold,
    ForcedHoldCondition,
    ForcedHoldRule,
    ForcedHoldStatus,
)

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("forced credit hold")
FORCED_RULE_NAME = "Forced credit hold"


# --- rules ------------------------------------------------------------------------------------


def clean_rule(data: dict) -> dict:
    condition = data.get("condition")
    if condition not in ForcedHoldCondition.values:
        raise StoreCreditError("Unknown condition.", field="condition")
    name = (data.get("name") or "").strip()
    if not name:
        raise StoreCreditError("name is required.", field="name",
                               code=StoreCreditErrorCode.REQUIRED)
    if len(name) > 255:
        raise StoreCreditError("name is too long (max 255).", field="name")
    currency = data.get("currency") or ""
    currency = normalize_currency(currency) if currency else ""
    days, threshold = data.get("days"), data.get("threshold")
    risk_class = data.get("risk_class")
    if condition == ForcedHoldCondition.DAYS_OVERDUE:
        if days is None or not 0 <= days <= 3660:
            raise StoreCreditError("A days-overdue rule needs days (0-3660).", field="days",
                                   code=StoreCreditErrorCode.REQUIRED)
        threshold = None
    elif condition == ForcedHoldCondition.OVERDUE_AMOUNT:
        if not currency:
            raise StoreCreditError("An overdue-amount rule needs a currency.",
                                   field="currency", code=StoreCreditErrorCode.REQUIRED)
        if threshold in (None, ""):
            raise StoreCreditError("An overdue-amount rule needs a threshold.",
                                   field="threshold", code=StoreCreditErrorCode.REQUIRED)
        threshold = parse_amount_or_zero(threshold, currency, field="threshold")
        days = days or 0
        if not 0 <= days <= 3660:
            raise StoreCreditError("days must be 0-3660.", field="days")
    else:
        if risk_class is None:
            raise StoreCreditError("A risk-class rule needs riskClassId.",
                                   field="riskClassId", code=StoreCreditErrorCode.REQUIRED)
        days = threshold = None
    return {
        "name": name, "condition": condition, "days": days, "threshold": threshold,
        "currency": currency, "group": data.get("group"), "risk_class": risk_class,
        "is_active": bool(data.get("is_active", True)),
    }


def save_rule(*, actor: Actor, data: dict, rule_id=None) -> ForcedHoldRule:
    values = clean_rule(data)
    with transaction.atomic():
        if rule_id is None:
            rule = ForcedHoldRule(**values)
        else:
            rule = ForcedHoldRule.objects.select_for_update().filter(pk=rule_id).first()
            if rule is None:
                raise NotFound("Forced hold rule not found.", field="id")
            for key, value in values.items():
                setattr(rule, key, value)
        rule.actor_type, rule.actor_id, rule.actor_label = actor.type, actor.id, actor.label
        rule.save()
        audit.record(
            AuditKind.RISK_SETUP_CHANGED, actor, f"Forced hold rule '{rule.name}' saved.",
            group_id=rule.group_id, rule_id=rule.pk, data=_rule_data(rule),
        )
    return rule


def _rule_data(rule: ForcedHoldRule) -> dict:
    return {
        "forced_hold_rule_id": rule.pk, "condition": rule.condition, "days": rule.days,
        "threshold": None if rule.threshold is None else str(
            rule.threshold.quantize(quantum(rule.currency))),
        "currency": rule.currency, "group_id": rule.group_id,
        "risk_class_id": rule.risk_class_id, "is_active": rule.is_active,
    }


def delete_rule(rule_id, *, actor: Actor) -> None:
    with transaction.atomic():
        rule = ForcedHoldRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound("Forced hold rule not found.", field="id")
        audit.record(AuditKind.RISK_SETUP_CHANGED, actor,
                     f"Forced hold rule '{rule.name}' deleted.", rule_id=rule.pk)
        rule.delete()


# --- who meets a rule -------------------------------------------------------------------------


def _currencies(rule: ForcedHoldRule) -> list[str]:
    if rule.currency:
        return [rule.currency]
    from saleor.order.models import Order

    return sorted(set(Order.objects.filter(status__in=exp.OPEN_STATUSES, user_id__isnull=False)
                      .order_by().values_list("currency", flat=True).distinct()))


def _money(amount, currency) -> str:
    return f"{amount.quantize(quantum(currency))} {currency}"


def customers_meeting(rule: ForcedHoldRule, now) -> dict[int, tuple[str, dict]]:
    """{customer id: (message, values)} for the customers the rule finds now."""
    found: dict = {}
    if rule.condition == ForcedHoldCondition.RISK_CLASS:
        for user_id in CustomerRiskScore.objects.filter(
                risk_class_id=rule.risk_class_id).values_list("user_id", flat=True):
            found[user_id] = (f"risk class {rule.risk_class.name}",
                              {"risk_class": rule.risk_class.name})
    else:
        for currency in _currencies(rule):
            grace = rule.days if rule.condition == ForcedHoldCondition.OVERDUE_AMOUNT else 0
            overdue = exp.overdue_by_customer(currency, now=now, grace_days=grace or 0)
            for user_id, (amount, days) in overdue.items():
                if user_id in found:
                    continue
                if rule.condition == ForcedHoldCondition.DAYS_OVERDUE and days > rule.days:
                    found[user_id] = (
                        f"{days} days overdue (over {rule.days})",
                        {"days_overdue": days, "days": rule.days, "currency": currency},
                    )
                elif (rule.condition == ForcedHoldCondition.OVERDUE_AMOUNT
                      and amount > rule.threshold):
                    found[user_id] = (
                        f"overdue {_money(amount, currency)} over {_money(rule.threshold, currency)}",
                        {"overdue": str(amount.quantize(quantum(currency))),
                         "threshold": str(rule.threshold.quantize(quantum(currency))),
                         "days": rule.days, "currency": currency},
                    )
    if rule.group_id is not None:
        members = set(CreditProfile.objects.filter(group_id=rule.group_id)
                      .values_list("user_id", flat=True))
        found = {k: v for k, v in found.items() if k in members}
    if rule.risk_class_id is not None and rule.condition != ForcedHoldCondition.RISK_CLASS:
        in_class = set(CustomerRiskScore.objects.filter(
            risk_class_id=rule.risk_class_id, user_id__in=list(found)
        ).values_list("user_id", flat=True))
        found = {k: v for k, v in found.items() if k in in_class}
    return found


# --- the periodic task ------------------------------------------------------------------------


def apply_forced_holds(*, actor: Actor = SYSTEM, now=None) -> dict:
    """Place forced holds on the customers that meet an active rule (first rule by
    id wins); re-arm lifts whose review date passed or whose customer no longer meets
    any rule. Returns counts."""
    now = now or timezone.now()
    counts = {"placed": 0, "already": 0, "lifted_in_force": 0, "rearmed": 0,
              "orders_marked": 0}
    matches: dict = {}
    for rule in ForcedHoldRule.objects.filter(is_active=True).select_related(
            "risk_class").order_by("pk"):
        for user_id, (message, values) in customers_meeting(rule, now).items():
            matches.setdefault(user_id, (rule, message, values))
    today = now.date()
    for lift in ForcedHold.objects.filter(status=ForcedHoldStatus.LIFTED, rearmed=False):
        due = lift.lifted_until is not None and lift.lifted_until <= today
        cleared = lift.lifted_until is None and lift.user_id not in matches
        if due or cleared:
            ForcedHold.objects.filter(pk=lift.pk, rearmed=False).update(rearmed=True)
            counts["rearmed"] += 1
    in_force = set(ForcedHold.objects.filter(
        status=ForcedHoldStatus.LIFTED, rearmed=False).values_list("user_id", flat=True))
    active = set(ForcedHold.objects.filter(status=ForcedHoldStatus.ACTIVE)
                 .values_list("user_id", flat=True))
    for user_id, (rule, message, values) in sorted(matches.items()):
        if user_id in active:
            counts["already"] += 1
            continue
        if user_id in in_force:
            counts["lifted_in_force"] += 1
            continue
        marked = _place(user_id, rule, message, values, actor)
        if marked is None:
            counts["already"] += 1  # another run placed it first
        else:
            counts["placed"] += 1
            counts["orders_marked"] += marked
    return counts


def _place(user_id, rule, message, values, actor) -> int | None:
    text = f"Forced credit hold by rule '{rule.name}': {message}."
    try:
        with transaction.atomic():
            hold = ForcedHold.objects.create(
                user_id=user_id, rule=rule, rule_name=rule.name, message=text,
                values=values,
            )
            audit.record(
                AuditKind.FORCED_HOLD_PLACED, actor, text, event="forced_hold_placed",
                user_id=user_id, rule_id=rule.pk,
                data={"forced_hold_id": hold.pk, "rule": rule.name, **values},
            )
            order_ids = list(OrderHold.objects.select_for_update().filter(
                user_id=user_id, status__in=ACTIVE_HOLD_STATUSES, forced=False
            ).values_list("order_id", flat=True))
            OrderHold.objects.filter(user_id=user_id, status__in=ACTIVE_HOLD_STATUSES).update(
                forced=True, ready_to_release_at=None)
            for order_id in order_ids:
                _note(order_id, f"{text} The order is released by staff only.")
    except IntegrityError:
        return None
    return len(order_ids)


def _note(order_id, message: str) -> None:
    from saleor.order.events import order_note_added_event
    from saleor.order.models import Order

    order = Order.objects.filter(pk=order_id).first()
    if order is not None:
        order_note_added_event(order=order, user=None, app=None, message=message)


def lift(user, *, actor: Actor, reason, until=None) -> ForcedHold:
    """Staff lift a customer's forced hold (their held orders stay held: release them)."""
    reason = (reason or "").strip()
    if not reason:
        raise StoreCreditError("A reason is required.", field="reason",
                               code=StoreCreditErrorCode.REQUIRED)
    if until is not None and until <= timezone.now().date():
        raise StoreCreditError("The review date must be in the future.", field="until")
    with transaction.atomic():
        hold = ForcedHold.objects.select_for_update().filter(
            user=user, status=ForcedHoldStatus.ACTIVE).first()
        if hold is None:
            raise StoreCreditError("The customer is not on forced credit hold.",
                                   field="customerId", code=StoreCreditErrorCode.INVALID_STATUS)
        # an earlier lift that is still in force would block this one's constraint
        ForcedHold.objects.filter(user=user, status=ForcedHoldStatus.LIFTED,
                                  rearmed=False).update(rearmed=True)
        hold.status, hold.lifted_at = ForcedHoldStatus.LIFTED, timezone.now()
        hold.lifted_by, hold.lifted_by_label = audit.actor_key(actor), actor.label
        hold.lift_reason, hold.lifted_until = reason[:255], until
        hold.save()
        audit.record(
            AuditKind.FORCED_HOLD_LIFTED, actor, f"Forced credit hold lifted: {reason}",
            event="forced_hold_lifted", user_id=user.pk, rule_id=hold.rule_id,
            data={"forced_hold_id": hold.pk, "reason": reason,
                  "until": until.isoformat() if until else None},
        )
    return hold


def active_forced_hold(user_id) -> ForcedHold | None:
    if user_id is None:
        return None
    return ForcedHold.objects.filter(user_id=user_id, status=ForcedHoldStatus.ACTIVE).first()


def latest_forced_hold(user_id) -> ForcedHold | None:
    return ForcedHold.objects.filter(user_id=user_id).order_by("-pk").first()


# --- what it does to orders -------------------------------------------------------------------


def forced_reasons(subject) -> list:
    """The hold reason of an account on forced hold (rules.evaluate adds it)."""
    from .models import RuleAction, RuleScope, RuleType
    from .rules import Reason

    hold = active_forced_hold(subject.user_id)
    if hold is None:
        return []
    return [Reason(
        rule_id=None, rule_name=FORCED_RULE_NAME, rule_type=RuleType.ACCOUNT_ON_HOLD,
        action=RuleAction.HOLD, scope=RuleScope.CUSTOMER, message=hold.message,
        values={"forced": "true", "forced_hold_id": str(hold.pk), "rule": hold.rule_name},
    )]


def is_forced(outcome) -> bool:
    return any(r.values.get("forced") == "true" for r in outcome.reasons)


def release_decision(hold: OrderHold, trigger: str) -> str | None:
    """When no hold reason applies any more: None to release the order now, else
    "ready" (just marked ready to release) or "unchanged" (marked before)."""
    from ..conf import load_settings

    settings = load_settings()
    automatic = bool(settings and settings.credit_auto_release_in(hold.channel_slug))
    if automatic and not hold.forced:
        return None
    if hold.ready_to_release_at is not None:
        return "unchanged"
    hold.ready_to_release_at = timezone.now()
    hold.save(update_fields=["ready_to_release_at"])
    why = ("a forced credit hold is released by staff only" if hold.forced else
           "automatic release is off for this channel")
    audit.record(
        AuditKind.READY_TO_RELEASE, SYSTEM,
        f"Ready to release ({trigger}): no credit hold reason applies any more; {why}.",
        event="order_ready_to_release", currency=hold.currency,
        order_id=hold.order_id, user_id=hold.user_id, hold_id=hold.pk,
        data={"trigger": trigger, "forced": hold.forced, "reasons_at_hold": hold.reasons},
    )
    return "ready"


def ready_note(hold: OrderHold, trigger: str) -> str:
    if hold.forced:
        return (f"Ready to release ({trigger}): no credit hold reason applies any more. "
                "It was forced on hold, so staff release it.")
    return (f"Ready to release ({trigger}): no credit hold reason applies any more. "
            "Release it to confirm the order.")


def evaluate_for_release(hold_ids, *, manager, trigger: str) -> dict:
    """"Evaluate for release" of chosen holds (staff's button; the periodic pass is
    holds.evaluate_held_orders): re-check each, mark or release as the setting says."""
    from .holds import recheck

    counts = {"released": 0, "ready": 0, "updated": 0, "unchanged": 0, "inactive": 0}
    for hold_id in hold_ids:
        try:
            counts[recheck(hold_id, manager=manager, trigger=trigger)] += 1
        except Exception:  # one bad order must not stop the pass
            logger.exception("Credit re-check of hold %s failed", hold_id)
    return counts
