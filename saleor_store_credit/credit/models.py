"""Customer credit management tables (SPEC §6, seed 004).

Limits are per customer or per credit group and currency: `amount` NULL means an
explicit "unlimited", 0 means "no credit". Every change goes through the adjustment
journal; every decision is written to the append-only `CreditAudit`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from ..models import MONEY, ActorFields


class CreditGroup(models.Model):
    """Customers sharing one credit limit (the lower of group and customer applies)."""

    name = models.CharField(max_length=255, unique=True)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)


class CreditProfile(models.Model):
    """A customer's credit attributes: group and account status."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
        related_name="store_credit_profile",
    )
    group = models.ForeignKey(
        CreditGroup, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="profiles",
    )
    on_hold = models.BooleanField(default=False)
    on_hold_reason = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)


def _one_owner(prefix: str):
    return models.CheckConstraint(
        condition=(Q(user__isnull=False, group__isnull=True)
                   | Q(user__isnull=True, group__isnull=False)),
        name=f"{prefix}_one_owner",
    )


class CreditLimit(models.Model):
    """The standing (permanent) limit of a customer or group in a currency."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE,
        related_name="store_credit_limits",
    )
    group = models.ForeignKey(
        CreditGroup, null=True, on_delete=models.CASCADE, related_name="limits"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY, null=True)  # NULL: unlimited
    expires_on = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _one_owner("store_credit_limit"),
            models.UniqueConstraint(
                fields=["user", "currency"], condition=Q(user__isnull=False),
                name="store_credit_limit_user_currency",
            ),
            models.UniqueConstraint(
                fields=["group", "currency"], condition=Q(group__isnull=False),
                name="store_credit_limit_group_currency",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="store_credit_limit_not_negative",
            ),
        ]


class TemporaryLimit(models.Model):
    """A limit that replaces the standing one between `valid_from` and `valid_to`."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE,
        related_name="store_credit_temporary_limits",
    )
    group = models.ForeignKey(
        CreditGroup, null=True, on_delete=models.CASCADE, related_name="temporary_limits"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY, null=True)  # NULL: unlimited
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)  # set by the end task
    adjustment = models.OneToOneField(
        "LimitAdjustment", null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            _one_owner("store_credit_templimit"),
            models.CheckConstraint(
                condition=Q(valid_to__gt=models.F("valid_from")),
                name="store_credit_templimit_period",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="store_credit_templimit_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["ended_at", "valid_to"])]


class AdjustmentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    POSTED = "posted", "Posted"
    REJECTED = "rejected", "Rejected"


class LimitAdjustment(ActorFields):
    """One journal line: draft → submitted → approved → posted (or rejected).

    The actor fields are the creator; each later step records its own actor key
    (`<type>:<id>`) so four-eyes approval can compare people."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE,
        related_name="store_credit_limit_adjustments",
    )
    group = models.ForeignKey(
        CreditGroup, null=True, on_delete=models.CASCADE, related_name="adjustments"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY, null=True)  # NULL: unlimited
    temporary = models.BooleanField(default=False)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=AdjustmentStatus.choices, default=AdjustmentStatus.DRAFT
    )
    previous_amount = models.DecimalField(**MONEY, null=True)
    previous_unlimited = models.BooleanField(default=False)
    submitted_by = models.CharField(max_length=80, blank=True, default="")
    approved_by = models.CharField(max_length=80, blank=True, default="")
    posted_by = models.CharField(max_length=80, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    # "" staff-made; "risk_class" proposed by an automatic-limit rule (credit/risk.py)
    origin = models.CharField(max_length=32, blank=True, default="", db_default="")
    origin_ref = models.CharField(max_length=255, blank=True, default="", db_default="")

    class Meta:
        constraints = [
            _one_owner("store_credit_adjustment"),
            # at most one open generated line per customer and currency: two runs of
            # the risk task cannot both propose (credit/risk.py)
            models.UniqueConstraint(
                fields=["user", "currency"],
                condition=Q(origin="risk_class", status__in=["draft", "submitted", "approved"]),
                name="store_credit_one_open_generated_adjustment",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="store_credit_adjustment_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(temporary=False)
                | Q(valid_from__isnull=False, valid_to__gt=models.F("valid_from")),
                name="store_credit_adjustment_temporary_period",
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"])]


class RuleType(models.TextChoices):
    LIMIT_EXCEEDED = "limit_exceeded", "Credit limit exceeded"
    LIMIT_USED_PERCENT = "limit_used_percent", "Share of the credit limit used"
    OVERDUE_AMOUNT = "overdue_amount", "Overdue amount over a threshold"
    ORDER_VALUE = "order_value", "Order value over a threshold"
    LIMIT_EXPIRED = "limit_expired", "Credit limit expired"
    ACCOUNT_ON_HOLD = "account_on_hold", "Account on hold"
    PAYMENT_METHOD = "payment_method", "Payment method"
    DAYS_OVERDUE = "days_overdue", "Days overdue"


class RuleAction(models.TextChoices):
    WARN = "warn", "Warn"
    HOLD = "hold", "Hold the order"
    BLOCK = "block", "Block checkout"


class RuleScope(models.TextChoices):
    ALL = "all", "All customers"
    GROUP = "group", "Credit group"
    CUSTOMER = "customer", "One customer"


class BlockingRule(models.Model):
    """A credit check. For each rule type only the most specific scope that matches
    a customer applies (customer over group over all); exclusions skip a rule."""

    name = models.CharField(max_length=255)
    rule_type = models.CharField(max_length=32, choices=RuleType.choices)
    action = models.CharField(max_length=8, choices=RuleAction.choices)
    scope = models.CharField(max_length=8, choices=RuleScope.choices, default=RuleScope.ALL)
    group = models.ForeignKey(
        CreditGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="store_credit_rules",
    )
    currency = models.CharField(max_length=3, blank=True, default="")  # "": any
    threshold = models.DecimalField(**MONEY, null=True, blank=True)
    days = models.PositiveIntegerField(null=True, blank=True)
    payment_methods = models.JSONField(default=list, blank=True)
    excluded_user_ids = models.JSONField(default=list, blank=True)
    excluded_group_ids = models.JSONField(default=list, blank=True)
    # narrowed to customers of one risk class (credit/risk.py); more specific than
    # the same scope without one
    risk_class = models.ForeignKey(
        "RiskClass", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("pk",)
        constraints = [
            models.CheckConstraint(
                condition=Q(scope="all", user__isnull=True, group__isnull=True)
                | Q(scope="group", user__isnull=True, group__isnull=False)
                | Q(scope="customer", user__isnull=False, group__isnull=True),
                name="store_credit_rule_scope_target",
            ),
        ]


class OrderHoldStatus(models.TextChoices):
    HELD = "held", "Held"
    RELEASE_REQUESTED = "release_requested", "Release awaiting approval"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"
    CONFIRMED_OUTSIDE = "confirmed_outside", "Confirmed outside the plugin"
    CANCELLED_OUTSIDE = "cancelled_outside", "Cancelled outside the plugin"


ACTIVE_HOLD_STATUSES = (OrderHoldStatus.HELD, OrderHoldStatus.RELEASE_REQUESTED)


class OrderHold(models.Model):
    """An order kept UNCONFIRMED because credit rules fired (one active per order)."""

    order_id = models.UUIDField(db_index=True)
    order_number = models.IntegerField(null=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
        related_name="store_credit_order_holds",
    )
    channel_slug = models.CharField(max_length=255)
    currency = models.CharField(max_length=3)
    order_total = models.DecimalField(**MONEY)
    status = models.CharField(
        max_length=24, choices=OrderHoldStatus.choices, default=OrderHoldStatus.HELD
    )
    reasons = models.JSONField(default=list)  # [{rule_id, rule_type, action, message, ...}]
    reason_types = models.JSONField(default=list)  # rule types, for filtering
    exposure = models.DecimalField(**MONEY, default=0)
    review_date = models.DateField(null=True, blank=True)
    resolution_reason = models.CharField(max_length=255, blank=True, default="")
    requested_by = models.CharField(max_length=80, blank=True, default="")
    requested_by_label = models.CharField(max_length=255, blank=True, default="")
    resolved_by = models.CharField(max_length=80, blank=True, default="")
    resolved_by_label = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # a forced credit hold is never released by the system (credit/forced_hold.py)
    forced = models.BooleanField(default=False, db_default=False)
    # set by "evaluate for release" when no hold reason applies any more
    ready_to_release_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order_id"], condition=Q(status__in=["held", "release_requested"]),
                name="store_credit_one_active_order_hold",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_HOLD_STATUSES


class CreditReservation(models.Model):
    """Exposure of a checkout that passed the credit check and is being completed.

    Written under the customer's (or group's) credit lock, so a second checkout
    checked meanwhile sees it; removed when the order exists (then the order counts)
    and ignored after `expires_at` (completion failed)."""

    checkout_token = models.UUIDField(unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY)
    expires_at = models.DateTimeField()


class AuditKind(models.TextChoices):
    CHECK_PASSED = "check_passed", "Credit check passed"
    CHECK_WARNED = "check_warned", "Credit check passed with warnings"
    CHECKOUT_BLOCKED = "checkout_blocked", "Checkout blocked"
    ORDER_HELD = "order_held", "Order held"
    HOLD_UPDATED = "hold_updated", "Hold reasons changed"
    RELEASE_REQUESTED = "release_requested", "Release requested"
    ORDER_RELEASED = "order_released", "Order released"
    ORDER_REJECTED = "order_rejected", "Order rejected"
    CONFIRMED_OUTSIDE = "confirmed_outside", "Order confirmed outside the plugin"
    CANCELLED_OUTSIDE = "cancelled_outside", "Held order cancelled outside the plugin"
    LIMIT_ADJUSTMENT = "limit_adjustment", "Limit adjustment"
    LIMIT_CHANGED = "limit_changed", "Limit changed"
    TEMPORARY_LIMIT_ENDED = "temporary_limit_ended", "Temporary limit ended"
    PROFILE_CHANGED = "profile_changed", "Customer credit profile changed"
    GROUP_CHANGED = "group_changed", "Credit group changed"
    RULE_CHANGED = "rule_changed", "Blocking rule changed"
    TERMS_CHANGED = "terms_changed", "Payment terms changed"
    ORDER_TERMS = "order_terms", "Order placed on payment terms"
    ORDER_DUE = "order_due", "Order due"
    ORDER_OVERDUE = "order_overdue", "Order overdue"
    ON_ACCOUNT_AUTHORIZED = "on_account_authorized", "Pay on account authorized"
    ON_ACCOUNT_REFUSED = "on_account_refused", "Pay on account refused"
    INVOICE_PAYMENT = "invoice_payment", "Invoice payment recorded"
    ON_ACCOUNT_CHANGED = "on_account_changed", "Pay on account refunded or cancelled"
    # risk scores, insurance, forced holds (credit/risk.py, insurance.py, forced_hold.py)
    RISK_SETUP_CHANGED = "risk_setup_changed", "Risk scoring setup changed"
    RISK_CLASS_CHANGED = "risk_class_changed", "Risk class changed"
    MANUAL_SCORE_SET = "manual_score_set", "Manual score value set"
    LIMIT_PROPOSED = "limit_proposed", "Automatic limit proposed"
    COVER_CHANGED = "cover_changed", "Insurance or guarantee changed"
    FORCED_HOLD_PLACED = "forced_hold_placed", "Forced credit hold placed"
    FORCED_HOLD_LIFTED = "forced_hold_lifted", "Forced credit hold lifted"
    READY_TO_RELEASE = "ready_to_release", "Held order ready to release"


class CreditAudit(ActorFields):
    """Every credit decision: who, when, why, and the values at the time. Append-only."""

    kind = models.CharField(max_length=32, choices=AuditKind.choices)
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    user_id = models.IntegerField(null=True, blank=True, db_index=True)
    group_id = models.IntegerField(null=True, blank=True)
    hold_id = models.IntegerField(null=True, blank=True)
    adjustment_id = models.IntegerField(null=True, blank=True)
    rule_id = models.IntegerField(null=True, blank=True)
    message = models.TextField()
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-pk",)
