"""Blocking rules: which apply to a customer, and what they say about an order.

For each rule type only the most specific scope that has a matching rule applies
(customer over group over all customers); a rule whose exclusions name the customer
or their group is skipped. Of the rules that fire, the strongest action wins
(block > hold > warn).
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from ..errors import InvalidAmount, StoreCreditError, StoreCreditErrorCode
from ..money import normalize_currency, parse_amount_or_zero, quantum, read_decimal
from . import exposure as exp
from . import terms
from .limits import limit_in_force
from .models import BlockingRule, RuleAction, RuleScope, RuleType

SCOPE_RANK = {RuleScope.CUSTOMER: 3, RuleScope.GROUP: 2, RuleScope.ALL: 1}
ACTION_RANK = {RuleAction.WARN: 1, RuleAction.HOLD: 2, RuleAction.BLOCK: 3}
MONEY_RULES = (RuleType.OVERDUE_AMOUNT, RuleType.ORDER_VALUE)
NO_PAYMENT = "none"  # payment-method token for orders placed without any payment

# What a shopper is told when checkout is refused (no internal figures).
CUSTOMER_TEXT = {
    RuleType.LIMIT_EXCEEDED: "the order exceeds your available credit",
    RuleType.LIMIT_USED_PERCENT: "your credit limit is nearly used up",
    RuleType.OVERDUE_AMOUNT: "your account has overdue unpaid orders",
    RuleType.ORDER_VALUE: "the order value needs payment up front",
    RuleType.LIMIT_EXPIRED: "your credit limit has expired",
    RuleType.ACCOUNT_ON_HOLD: "your account is on hold",
    RuleType.PAYMENT_METHOD: "this payment method is not available to your account",
    RuleType.DAYS_OVERDUE: "your account has overdue unpaid orders",
}


@dataclass
class Subject:
    """The order (or checkout about to become one) being evaluated."""

    user_id: int | None
    group_id: int | None
    on_hold: bool
    currency: str
    order_total: Decimal
    # This order's unpaid part when it is not yet an order (a checkout); 0 once the
    # order exists, because open orders already include it.
    pending_unpaid: Decimal = Decimal(0)
    # a frozenset, or a callable returning one (looked up only if a rule needs it)
    payment_methods: object = frozenset()
    checkout_token: object = None
    now: object = None
    # the customer's risk class id; ... until a rule narrowed to a class needs it
    risk_class_id: object = ...

    def risk_class(self):
        if self.risk_class_id is ...:
            from .risk import class_of

            self.risk_class_id = class_of(self.user_id)
        return self.risk_class_id


@dataclass
class Reason:
    rule_id: int
    rule_name: str
    rule_type: str
    action: str
    scope: str
    message: str
    values: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "rule_id": self.rule_id, "rule_name": self.rule_name,
            "rule_type": self.rule_type, "action": self.action, "scope": self.scope,
            "message": self.message, "values": self.values,
        }


@dataclass
class Outcome:
    reasons: list[Reason]
    figures: dict

    @property
    def action(self) -> str | None:
        if not self.reasons:
            return None
        return max((r.action for r in self.reasons), key=ACTION_RANK.__getitem__)

    def with_action(self, *actions) -> list[Reason]:
        return [r for r in self.reasons if r.action in actions]

    def summary(self) -> str:
        return "; ".join(r.message for r in self.reasons)


def active_rules() -> list[BlockingRule]:
    return list(BlockingRule.objects.filter(is_active=True))


def _matches(rule: BlockingRule, s: Subject) -> bool:
    if rule.currency and rule.currency != s.currency:
        return False
    if rule.scope == RuleScope.GROUP and (s.group_id is None or rule.group_id != s.group_id):
        return False
    if rule.scope == RuleScope.CUSTOMER and (s.user_id is None or rule.user_id != s.user_id):
        return False
    if s.user_id is not None and s.user_id in (rule.excluded_user_ids or []):
        return False
    if rule.risk_class_id is not None and rule.risk_class_id != s.risk_class():
        return False
    return s.group_id is None or s.group_id not in (rule.excluded_group_ids or [])


def applicable_rules(subject: Subject, rules=None) -> list[BlockingRule]:
    """Of the active rules (`rules`, else read now), those that apply to the subject."""
    candidates = [
        rule for rule in (active_rules() if rules is None else rules)
        if rule.is_active and _matches(rule, subject)
    ]
    best: dict[str, tuple] = {}
    for rule in candidates:
        best[rule.rule_type] = max(best.get(rule.rule_type, (0, 0)), _rank(rule))
    return [rule for rule in candidates if _rank(rule) == best[rule.rule_type]]


def _rank(rule: BlockingRule) -> tuple:
    """Scope first; within a scope, a rule narrowed to a risk class is more specific."""
    return (SCOPE_RANK[rule.scope], 1 if rule.risk_class_id is not None else 0)


class Figures:
    """Exposure and limits, computed once and only when a rule needs them."""

    def __init__(self, subject: Subject):
        self.s = subject
        self._cache: dict = {}

    def _get(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def _exposure(self, user_ids) -> Decimal:
        s = self.s
        return (
            exp.orders_exposure(user_ids, s.currency)
            + exp.reservations_exposure(
                user_ids, s.currency, excluding_checkout=s.checkout_token, now=s.now
            )
            + exp.on_account_checkouts_exposure(user_ids, s.currency)
            + s.pending_unpaid
        )

    def customer_exposure(self) -> Decimal:
        ids = [self.s.user_id] if self.s.user_id is not None else []
        return self._get("customer_exposure", lambda: self._exposure(ids))

    def group_exposure(self) -> Decimal:
        s = self.s
        return self._get(
            "group_exposure", lambda: self._exposure(exp.scope_user_ids(s.user_id, s.group_id))
        )

    def customer_limit(self):
        s = self.s
        if s.user_id is None:
            return None
        return self._get("customer_limit", lambda: self._with_cover(limit_in_force(
            currency=s.currency, user_id=s.user_id, now=s.now)))

    def _with_cover(self, limit):
        """Insurance and guarantees raise or cap the customer's limit (insurance.py)."""
        from .insurance import effective_limit

        s = self.s
        effective, cover = effective_limit(limit, user_id=s.user_id, currency=s.currency,
                                           now=s.now)
        if cover is not None:
            self._cache["insurance_cover"] = cover
            if limit is not None:
                self._cache["customer_limit_without_cover"] = limit
        return effective

    def cover(self):
        """(insurance and guarantees counting now, the customer limit before them);
        None for what the customer does not have."""
        self.customer_limit()
        return (self._cache.get("insurance_cover"),
                self._cache.get("customer_limit_without_cover"))

    def group_limit(self):
        s = self.s
        if s.group_id is None:
            return None
        return self._get("group_limit", lambda: limit_in_force(
            currency=s.currency, group_id=s.group_id, now=s.now))

    def checks(self):
        """(who, exposure, limit) for every finite limit that applies."""
        pairs = []
        limit = self.customer_limit()
        if limit is not None and not limit.unlimited:
            pairs.append(("customer", self.customer_exposure(), limit))
        limit = self.group_limit()
        if limit is not None and not limit.unlimited:
            pairs.append(("group", self.group_exposure(), limit))
        return pairs

    def as_dict(self) -> dict:
        def text(value):
            return None if value is None else _text(value, self.s.currency)

        out = {}
        for key, value in self._cache.items():
            if hasattr(value, "amount"):
                out[key] = "unlimited" if value.unlimited else text(value.amount)
                if value.temporary:
                    out[key + "_temporary_until"] = value.valid_to.isoformat()
            else:
                out[key] = text(value)
        return out


def _text(value, currency: str) -> str:
    """Audit/JSON text: money amounts at the currency's precision."""
    if isinstance(value, Decimal) and value.is_finite():
        return str(value.quantize(quantum(currency)))
    return str(value)


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(quantum(currency))} {currency}"


def _check(rule: BlockingRule, s: Subject, f: Figures) -> Reason | None:
    cur = s.currency

    def reason(message, **values):
        return Reason(rule.pk, rule.name, rule.rule_type, rule.action, rule.scope,
                      message, {k: _text(v, cur) for k, v in values.items()})

    kind = rule.rule_type
    if kind == RuleType.LIMIT_EXCEEDED:
        for who, exposure, limit in f.checks():
            if exposure > limit.amount:
                return reason(
                    f"Credit limit exceeded ({who}): exposure {_money(exposure, cur)} over "
                    f"limit {_money(limit.amount, cur)}.",
                    who=who, exposure=exposure, limit=limit.amount,
                )
    elif kind == RuleType.LIMIT_USED_PERCENT:
        for who, exposure, limit in f.checks():
            if limit.amount == 0:
                used = Decimal(0) if exposure <= 0 else Decimal("Infinity")
            else:
                used = (exposure * 100 / limit.amount).quantize(Decimal("0.01"))
            if used >= rule.threshold:
                shown = "over 100" if not used.is_finite() else str(used)
                return reason(
                    f"{shown}% of the {who} credit limit used "
                    f"(threshold {rule.threshold}%).",
                    who=who, used_percent=shown, threshold=str(rule.threshold.normalize()),
                    exposure=exposure, limit=limit.amount,
                )
    elif kind == RuleType.OVERDUE_AMOUNT:
        if s.user_id is not None:
            # orders on payment terms: unpaid past their due date; others (the
            # fallback): unpaid and older than `days` (credit/terms.py)
            now = s.now or timezone.now()
            overdue = terms.overdue_amount(
                [s.user_id], cur, today=timezone.localdate(now),
                created_before=now - timedelta(days=rule.days or 0))
            if overdue > rule.threshold:
                return reason(
                    f"Overdue amount {_money(overdue, cur)} (unpaid past the due date, "
                    f"or older than {rule.days} days without payment terms) over "
                    f"{_money(rule.threshold, cur)}.",
                    overdue=overdue, days=rule.days, threshold=rule.threshold,
                )
    elif kind == RuleType.DAYS_OVERDUE:
        if s.user_id is not None:
            oldest = terms.most_days_overdue(
                [s.user_id], cur, today=timezone.localdate(s.now or timezone.now()))
            if oldest is not None and oldest.days > (rule.days or 0):
                return reason(
                    f"Order {oldest.order_number} is {oldest.days} days overdue "
                    f"(due {oldest.due_date.isoformat()}, {_money(oldest.owed, cur)} "
                    f"unpaid; allowed: {rule.days} days).",
                    days_overdue=oldest.days, days=rule.days, order_number=oldest.order_number,
                    due_date=oldest.due_date.isoformat(), owed=oldest.owed,
                )
    elif kind == RuleType.ORDER_VALUE:
        if s.order_total > rule.threshold:
            return reason(
                f"Order value {_money(s.order_total, cur)} over "
                f"{_money(rule.threshold, cur)}.",
                order_total=s.order_total, threshold=rule.threshold,
            )
    elif kind == RuleType.LIMIT_EXPIRED:
        today = (s.now or timezone.now()).date()
        for who, limit in (("customer", f.customer_limit()), ("group", f.group_limit())):
            if limit is not None and limit.expires_on and limit.expires_on < today:
                return reason(
                    f"The {who} credit limit expired on {limit.expires_on.isoformat()}.",
                    who=who, expires_on=limit.expires_on.isoformat(),
                )
    elif kind == RuleType.ACCOUNT_ON_HOLD:
        if s.on_hold:
            return reason("The customer's account is on hold.")
    elif kind == RuleType.PAYMENT_METHOD:
        wanted = {str(m).strip().lower() for m in rule.payment_methods or []}
        if callable(s.payment_methods):
            s.payment_methods = s.payment_methods()
        matched = sorted(wanted & s.payment_methods)
        if matched:
            return reason(
                f"Payment method {', '.join(matched)} is restricted.", methods=",".join(matched)
            )
    return None


def evaluate(subject: Subject, rules=None) -> Outcome:
    subject.now = subject.now or timezone.now()
    figures = Figures(subject)
    reasons = [
        found for rule in applicable_rules(subject, rules)
        if (found := _check(rule, subject, figures)) is not None
    ]
    from .forced_hold import forced_reasons

    reasons += forced_reasons(subject)  # a forced credit hold holds every new order
    return Outcome(reasons, figures.as_dict())


# --- validation of staff input ---------------------------------------------------------


def clean_rule_input(data: dict) -> dict:
    """Check a rule's fields together; returns model field values or raises."""
    rule_type = data.get("rule_type")
    if rule_type not in RuleType.values:
        raise StoreCreditError("Unknown rule type.", field="ruleType")
    if data.get("action") not in RuleAction.values:
        raise StoreCreditError("Unknown action.", field="action")
    scope = data.get("scope") or RuleScope.ALL
    if scope == RuleScope.GROUP and data.get("group") is None:
        raise StoreCreditError("A group rule needs groupId.", field="groupId",
                               code=StoreCreditErrorCode.REQUIRED)
    if scope == RuleScope.CUSTOMER and data.get("user") is None:
        raise StoreCreditError("A customer rule needs customerId.", field="customerId",
                               code=StoreCreditErrorCode.REQUIRED)
    currency = data.get("currency") or ""
    if currency:
        currency = normalize_currency(currency)
    threshold = data.get("threshold")
    days = data.get("days")
    methods = [str(m).strip().lower() for m in data.get("payment_methods") or [] if str(m).strip()]
    if rule_type in MONEY_RULES:
        if not currency:
            raise StoreCreditError("Money thresholds need a currency.", field="currency",
                                   code=StoreCreditErrorCode.REQUIRED)
        if threshold in (None, ""):
            raise StoreCreditError("This rule needs a threshold.", field="threshold",
                                   code=StoreCreditErrorCode.REQUIRED)
        threshold = parse_amount_or_zero(threshold, currency, field="threshold")
    elif rule_type == RuleType.LIMIT_USED_PERCENT:
        if threshold in (None, ""):
            raise StoreCreditError("This rule needs a threshold (percent).",
                                   field="threshold", code=StoreCreditErrorCode.REQUIRED)
        try:
            threshold = read_decimal(threshold, field="threshold")
        except InvalidAmount:
            threshold = Decimal("NaN")  # refused just below, like any non-number
        if not threshold.is_finite() or not 0 < threshold <= 1000:
            raise StoreCreditError("Percent threshold must be between 0 and 1000.",
                                   field="threshold")
    else:
        threshold = None
    if rule_type in (RuleType.OVERDUE_AMOUNT, RuleType.DAYS_OVERDUE):
        if days is None or days < 0:
            raise StoreCreditError("An overdue rule needs days (0 or more).", field="days",
                                   code=StoreCreditErrorCode.REQUIRED)
    else:
        days = None
    if rule_type == RuleType.PAYMENT_METHOD and not methods:
        raise StoreCreditError(
            f"List payment methods (gateway or app ids, names, or '{NO_PAYMENT}').",
            field="paymentMethods", code=StoreCreditErrorCode.REQUIRED,
        )
    name = (data.get("name") or "").strip()
    if not name:
        raise StoreCreditError("name is required.", field="name",
                               code=StoreCreditErrorCode.REQUIRED)
    return {
        "name": name[:255], "rule_type": rule_type, "action": data["action"], "scope": scope,
        "group": data.get("group") if scope == RuleScope.GROUP else None,
        "user": data.get("user") if scope == RuleScope.CUSTOMER else None,
        "currency": currency, "threshold": threshold, "days": days,
        "payment_methods": methods if rule_type == RuleType.PAYMENT_METHOD else [],
        "excluded_user_ids": sorted({int(i) for i in data.get("excluded_user_ids") or []}),
        "excluded_group_ids": sorted({int(i) for i in data.get("excluded_group_ids") or []}),
        "risk_class": data.get("risk_class"),
        "is_active": bool(data.get("is_active", True)),
    }
