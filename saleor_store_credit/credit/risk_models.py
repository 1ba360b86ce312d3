"""Tables for risk scores, automatic limits, insurance/guarantees and forced credit
holds (issue 19, items 3-5; Dynamics 365 "Customer credit management": scoring groups,
risk classification, automatic credit limits, insurance and guarantees, force credit
hold). The services are `risk.py`, `insurance.py` and `forced_hold.py`.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from ..models import MONEY, ActorFields

SCORE = {"max_digits": 7, "decimal_places": 2}  # 0.00 … 100.00 (and weights)


class ScoreKind(models.TextChoices):
    ORDER_COUNT = "order_count", "Orders placed in the period"
    ORDER_VALUE = "order_value", "Value of orders placed in the period"
    AVERAGE_DAYS_TO_PAY = "average_days_to_pay", "Average days to pay"
    REFUNDED_SHARE = "refunded_share", "Share of orders refunded or returned (%)"
    MONTHS_AS_CUSTOMER = "months_as_customer", "Months as a customer"
    OVERDUE_AMOUNT = "overdue_amount", "Current overdue amount"
    MANUAL = "manual", "Manual value set by staff"


class ScoringGroup(models.Model):
    """A set of score types. The one with `credit_group` set scores that credit
    group's members; the one without (at most one) scores every other customer."""

    name = models.CharField(max_length=255, unique=True)
    description = models.TextField(blank=True, default="")
    credit_group = models.ForeignKey(
        "CreditGroup", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            # one scoring group per credit group, and one default (credit_group NULL)
            models.UniqueConstraint(
                Coalesce(F("credit_group"), Value(0)),
                name="store_credit_scoring_group_per_credit_group",
            ),
        ]


class ScoreType(models.Model):
    """One factor of a scoring group: what is measured, its weight, its value bands
    (`[{"from": "0", "to": "5", "points": "20"}, …]`, from inclusive, to exclusive,
    an empty end open; points 0-100; no overlaps, checked on save)."""

    scoring_group = models.ForeignKey(
        ScoringGroup, on_delete=models.CASCADE, related_name="score_types"
    )
    kind = models.CharField(max_length=32, choices=ScoreKind.choices)
    name = models.CharField(max_length=255, blank=True, default="")
    weight = models.DecimalField(**SCORE)
    period_days = models.PositiveIntegerField(null=True, blank=True)
    days = models.PositiveIntegerField(null=True, blank=True)  # overdue: days past due
    currency = models.CharField(max_length=3, blank=True, default="")
    manual_key = models.CharField(max_length=64, blank=True, default="")
    bands = models.JSONField(default=list)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("position", "pk")
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gt=0) & Q(weight__lte=1000),
                name="store_credit_score_type_weight",
            ),
        ]


class RiskClass(models.Model):
    """A risk classification: a customer with score ≥ `min_score` (and below the next
    class's) is in it."""

    name = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True, default="")
    min_score = models.DecimalField(**SCORE, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("min_score",)
        constraints = [
            models.CheckConstraint(
                condition=Q(min_score__gte=0) & Q(min_score__lte=100),
                name="store_credit_risk_class_min_score",
            ),
        ]


class CustomerRiskScore(models.Model):
    """A customer's latest score and risk class (written by the periodic task)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
        related_name="store_credit_risk_score",
    )
    scoring_group = models.ForeignKey(
        ScoringGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    score = models.DecimalField(**SCORE, null=True, blank=True)
    risk_class = models.ForeignKey(
        RiskClass, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    details = models.JSONField(default=list)  # per score type: value, band, points, weight
    computed_at = models.DateTimeField(null=True, blank=True)
    class_changed_at = models.DateTimeField(null=True, blank=True)


class ManualScoreValue(ActorFields):
    """A value staff set for a customer, read by MANUAL score types with this key."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=64)
    value = models.DecimalField(max_digits=20, decimal_places=4)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="store_credit_manual_score"),
        ]


class RiskRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class RiskScoreRun(ActorFields):
    """One pass of the risk score task, with its progress (committed per batch)."""

    status = models.CharField(
        max_length=16, choices=RiskRunStatus.choices, default=RiskRunStatus.RUNNING
    )
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    class_changes = models.PositiveIntegerField(default=0)
    proposals = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-pk",)


class AutomaticLimitRule(ActorFields):
    """"Automatic limit by risk class": customers of `risk_class` get this limit in
    `currency`, proposed as a journal line. The actor fields name who last changed
    the rule: the proposer of its lines (four-eyes keeps them from approving)."""

    name = models.CharField(max_length=255)
    risk_class = models.ForeignKey(RiskClass, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY, null=True, blank=True)  # NULL: unlimited
    # optional condition: the customer's measured value of this kind ≥ condition_min
    condition_kind = models.CharField(
        max_length=32, choices=ScoreKind.choices, blank=True, default=""
    )
    condition_min = models.DecimalField(max_digits=20, decimal_places=4, null=True,
                                        blank=True)
    condition_key = models.CharField(max_length=64, blank=True, default="")  # MANUAL's key
    valid_days = models.PositiveIntegerField(null=True, blank=True)  # -> expiresOn
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("pk",)
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="store_credit_auto_limit_not_negative",
            ),
        ]


class CoverKind(models.TextChoices):
    INSURANCE = "insurance", "Credit insurance"
    GUARANTEE = "guarantee", "Guarantee"


class CreditCover(ActorFields):
    """Credit insurance or a guarantee of one customer, counting while
    valid_from ≤ now < valid_to (and not cancelled)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
        related_name="store_credit_covers",
    )
    kind = models.CharField(max_length=16, choices=CoverKind.choices)
    provider = models.CharField(max_length=255, blank=True, default="")  # insurer/guarantor
    cover_type = models.CharField(max_length=255, blank=True, default="")  # e.g. bank guarantee
    reference = models.CharField(max_length=255, blank=True, default="")  # policy number
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("valid_from", "pk")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__gt=F("valid_from")), name="store_credit_cover_period"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="store_credit_cover_amount"),
        ]
        indexes = [models.Index(fields=["user", "currency", "valid_to"])]


class ForcedHoldCondition(models.TextChoices):
    DAYS_OVERDUE = "days_overdue", "Days overdue over N"
    OVERDUE_AMOUNT = "overdue_amount", "Overdue amount over a threshold"
    RISK_CLASS = "risk_class", "Customer in a risk class"


class ForcedHoldRule(ActorFields):
    """When the periodic task finds a customer meeting `condition`, their account is
    put on forced credit hold. Narrowed by credit group and/or risk class."""

    name = models.CharField(max_length=255)
    condition = models.CharField(max_length=32, choices=ForcedHoldCondition.choices)
    days = models.PositiveIntegerField(null=True, blank=True)
    threshold = models.DecimalField(**MONEY, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    group = models.ForeignKey(
        "CreditGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    risk_class = models.ForeignKey(
        RiskClass, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("pk",)


class ForcedHoldStatus(models.TextChoices):
    ACTIVE = "active", "On forced hold"
    LIFTED = "lifted", "Lifted by staff"


class ForcedHold(models.Model):
    """A customer's forced credit hold. Never lifted by the system: staff lift it.
    A lift stays in force (the task does not re-impose it) until `lifted_until`, or,
    without a date, until the customer no longer meets the rule (then `rearmed`)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    rule = models.ForeignKey(
        ForcedHoldRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule_name = models.CharField(max_length=255)
    message = models.TextField()
    values = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=ForcedHoldStatus.choices, default=ForcedHoldStatus.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=80, blank=True, default="")
    lifted_by_label = models.CharField(max_length=255, blank=True, default="")
    lift_reason = models.CharField(max_length=255, blank=True, default="")
    lifted_until = models.DateField(null=True, blank=True)
    rearmed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(status="active"),
                name="store_credit_one_active_forced_hold",
            ),
            models.UniqueConstraint(
                fields=["user"], condition=Q(status="lifted", rearmed=False),
                name="store_credit_one_lift_in_force",
            ),
        ]
