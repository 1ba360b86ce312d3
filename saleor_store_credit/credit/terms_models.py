"""Payment terms, due dates and "pay on account" (issue 19, items 1 and 2).

- `PaymentTerms`: "Net 30", "Net 60", "due on fulfilment" … (a basis and a number of
  days), assigned to a customer, a credit group or a channel (the channel's default)
  by `PaymentTermsAssignment`.
- `OrderTerms`: the terms an order was placed on (a snapshot), its due date and the
  due/overdue events already sent (each once).
- `OnAccountPayment`: one "pay on account" authorization, i.e. one Saleor
  TransactionItem the plugin answers for; its open amount is what Saleor shows as
  authorized, paid − refunded what Saleor shows as charged. `OnAccountEntry`: every
  movement on it (authorized, invoice paid, refunded, cancelled), with who and why.

Saleor objects are referenced by plain ids (orders, checkouts, transactions), as in
the ledger: these rows outlive what they point at.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from ..models import MONEY, ActorFields
from .models import CreditGroup

MAX_TERMS_DAYS = 3650


class TermsBasis(models.TextChoices):
    ORDER_DATE = "order_date", "Days after the order date"
    END_OF_MONTH = "end_of_month", "Days after the end of the order's month"
    FULFILMENT = "fulfilment", "Days after the order is fulfilled"


class PaymentTerms(models.Model):
    """Terms of payment: due `days` after the order date, after the end of the
    order's month, or after the order is (fully) fulfilled."""

    name = models.CharField(max_length=255, unique=True)
    description = models.TextField(blank=True, default="")
    basis = models.CharField(max_length=16, choices=TermsBasis.choices,
                             default=TermsBasis.ORDER_DATE)
    days = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(condition=Q(days__lte=MAX_TERMS_DAYS),
                                   name="store_credit_terms_days_range"),
        ]


class TermsSource(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    GROUP = "group", "Credit group"
    CHANNEL = "channel", "Channel default"


class PaymentTermsAssignment(models.Model):
    """Terms of one customer, one credit group, or a channel's default (exactly one)."""

    terms = models.ForeignKey(PaymentTerms, on_delete=models.CASCADE,
                              related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="store_credit_payment_terms",
    )
    group = models.ForeignKey(CreditGroup, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="payment_terms")
    channel_slug = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True, channel_slug="")
                | Q(user__isnull=True, group__isnull=False, channel_slug="")
                | (Q(user__isnull=True, group__isnull=True) & ~Q(channel_slug="")),
                name="store_credit_terms_assignment_one_owner",
            ),
            models.UniqueConstraint(fields=["user"], condition=Q(user__isnull=False),
                                    name="store_credit_terms_one_per_customer"),
            models.UniqueConstraint(fields=["group"], condition=Q(group__isnull=False),
                                    name="store_credit_terms_one_per_group"),
            models.UniqueConstraint(fields=["channel_slug"], condition=~Q(channel_slug=""),
                                    name="store_credit_terms_one_per_channel"),
        ]


class OrderTerms(models.Model):
    """The terms an order was placed on and its due date (None until the order is
    fulfilled, for the fulfilment basis). `paid_at`: when nothing was owed on it any
    more. The notified columns make each due/overdue event happen once."""

    order_id = models.UUIDField(unique=True)
    order_number = models.IntegerField(null=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel_slug = models.CharField(max_length=255)
    currency = models.CharField(max_length=3)
    terms = models.ForeignKey(PaymentTerms, null=True, on_delete=models.SET_NULL,
                              related_name="+")
    terms_name = models.CharField(max_length=255)
    basis = models.CharField(max_length=16, choices=TermsBasis.choices)
    days = models.PositiveIntegerField()
    source = models.CharField(max_length=16, choices=TermsSource.choices)
    placed_at = models.DateTimeField()
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    due_notified_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "due_date"], name="sc_order_terms_user_due"),
            models.Index(fields=["due_date"], name="sc_order_terms_due",
                         condition=Q(paid_at__isnull=True)),
        ]


class OnAccountPayment(models.Model):
    """One "pay on account" authorization (a Saleor TransactionItem).

    Invariants, held by the database: open = authorized − paid − cancelled, nothing
    negative, refunds never above what was paid. Saleor's view of the transaction
    equals it: authorized_value = open, charged_value = paid − refunded,
    refunded_value = refunded."""

    transaction_token = models.UUIDField(unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
        related_name="store_credit_on_account_payments",
    )
    checkout_token = models.UUIDField(null=True, blank=True, db_index=True)
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    currency = models.CharField(max_length=3)
    authorized_amount = models.DecimalField(**MONEY)
    open_amount = models.DecimalField(**MONEY)
    paid_amount = models.DecimalField(**MONEY, default=0)
    refunded_amount = models.DecimalField(**MONEY, default=0)
    cancelled_amount = models.DecimalField(**MONEY, default=0)
    # a checkout's authorization lapses at `expires_at` (None once it is an order's)
    expires_at = models.DateTimeField(null=True, blank=True)
    completing_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(open_amount=F("authorized_amount") - F("paid_amount")
                            - F("cancelled_amount")),
                name="store_credit_on_account_open_balance",
            ),
            models.CheckConstraint(
                condition=Q(open_amount__gte=0, paid_amount__gte=0,
                            refunded_amount__gte=0, cancelled_amount__gte=0,
                            authorized_amount__gt=0),
                name="store_credit_on_account_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("paid_amount")),
                name="store_credit_on_account_refund_within_paid",
            ),
        ]


class OnAccountEntryKind(models.TextChoices):
    AUTHORIZED = "authorized", "Authorized at checkout"
    PAYMENT = "payment", "Invoice payment recorded"
    REFUND = "refund", "Refunded"
    CANCELLED = "cancelled", "Authorization cancelled"


class OnAccountEntry(ActorFields):
    """One movement of a pay-on-account authorization."""

    payment = models.ForeignKey(OnAccountPayment, on_delete=models.PROTECT,
                                related_name="entries")
    kind = models.CharField(max_length=16, choices=OnAccountEntryKind.choices)
    amount = models.DecimalField(**MONEY)
    reference = models.CharField(max_length=255, blank=True, default="")
    note = models.CharField(max_length=255, blank=True, default="")
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("pk",)
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0),
                                   name="store_credit_on_account_entry_positive"),
        ]
