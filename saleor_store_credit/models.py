"""Ledger tables.

References to Saleor objects (orders, checkouts, transactions, gift cards) are plain
identifiers, not foreign keys: a ledger line must outlive whatever it points at, and
Saleor's cascading deletes must never reach an append-only table. The one foreign key
into Saleor is the customer, and deleting a customer only detaches the account.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

MONEY = {"max_digits": 30, "decimal_places": 4}


class ActorType(models.TextChoices):
    STAFF = "staff", "Staff user"
    APP = "app", "App"
    CUSTOMER = "customer", "Customer"
    SYSTEM = "system", "System"


class EntryKind(models.TextChoices):
    ADJUSTMENT = "adjustment", "Staff adjustment"
    PAYMENT = "payment", "Paid an order"
    REFUND = "refund", "Refund of a store-credit payment"
    CREDIT_MEMO = "credit_memo", "Credit memo"
    GIFT_CARD = "gift_card", "Gift card converted"
    PAYOUT = "payout", "Reimbursed"
    PAYOUT_REVERSAL = "payout_reversal", "Reimbursement reversed"
    EXPIRY = "expiry", "Expired"
    WRITE_OFF = "write_off", "Written off (orphaned balance)"


class EntryDirection(models.TextChoices):
    CREDIT = "credit", "Credit"
    DEBIT = "debit", "Debit"


class HoldStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CAPTURED = "captured", "Captured"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class ActorFields(models.Model):
    """Who made a change, as a snapshot (no foreign key: audit rows outlive users)."""

    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True, default="")
    actor_label = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        abstract = True


def deleted_user_label(user_id) -> str:
    """The stable placeholder that replaces a deleted user's e-mail and names."""
    return f"deleted user #{user_id}"


class Account(models.Model):
    """One customer's store credit in one currency.

    `balance` is the posted balance (sum of entries) and `held` the sum of active
    holds; both are maintained under a row lock and re-derived by `ledger_verify()`.
    """

    # Indexed by the unique (user, currency) constraint: no index of its own (each
    # index is written again by every balance change that is not a HOT update).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="store_credit_accounts",
        db_index=False,
    )
    email = models.CharField(max_length=254, blank=True, default="")
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(**MONEY, default=Decimal(0))
    held = models.DecimalField(**MONEY, default=Decimal(0))
    # Kept with the balance so history pages count in O(1), however long the history.
    entry_count = models.PositiveIntegerField(default=0)
    # Part of the balance that will expire (sum of the credit lots' remainders).
    expiring = models.DecimalField(**MONEY, default=Decimal(0))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when Saleor deleted the customer (privacy.anonymise_user): the account keeps
    # its money as an orphaned balance, known only by the former user id.
    former_user_id = models.IntegerField(null=True, blank=True)
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "currency"], name="store_credit_account_user_currency"
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="store_credit_account_balance_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(held__gte=0), name="store_credit_account_held_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(held__lte=F("balance")),
                name="store_credit_account_available_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(expiring__gte=0) & Q(expiring__lte=F("balance")),
                name="store_credit_account_expiring_within_balance",
            ),
        ]

    @property
    def available(self) -> Decimal:
        return self.balance - self.held

    @property
    def label(self) -> str:
        """Who the account belongs to, without personal data once anonymised."""
        if self.user_id is None and self.former_user_id is not None:
            return deleted_user_label(self.former_user_id)
        return self.email or (f"user #{self.user_id}" if self.user_id else f"account #{self.pk}")

    def __str__(self):
        return f"{self.email or self.user_id} {self.currency}"


class Hold(models.Model):
    """An amount reserved for a checkout; resolves exactly once (DB-enforced).

    A hold's amount never changes. Charging or cancelling part of it, or following
    a cart that got cheaper, resolves it and opens a successor for what stays
    reserved (same checkout and transaction), so the active hold of a transaction
    is always exactly what Saleor shows as authorized."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    amount = models.DecimalField(**MONEY)
    status = models.CharField(
        max_length=16, choices=HoldStatus.choices, default=HoldStatus.ACTIVE
    )
    captured_amount = models.DecimalField(**MONEY, default=Decimal(0))
    checkout_id = models.UUIDField(null=True, blank=True, db_index=True)
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    transaction_id = models.UUIDField(null=True, blank=True, db_index=True)
    reference = models.CharField(max_length=255, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    # What the shopper asked for (None: all available up to what is left to pay);
    # the reservation follows the cart within it.
    requested_amount = models.DecimalField(**MONEY, null=True, blank=True)
    # Set when Saleor starts creating the order from the checkout: apply/remove are
    # refused until the order exists or the mark is older than Saleor's checkout
    # completion lock time.
    completing_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_reason = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="store_credit_hold_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0)
                & Q(captured_amount__lte=F("amount")),
                name="store_credit_hold_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.CAPTURED) | Q(captured_amount=0),
                name="store_credit_hold_only_captured_has_capture",
            ),
            # Never two live reservations for one checkout.
            models.UniqueConstraint(
                fields=["checkout_id"],
                condition=Q(status=HoldStatus.ACTIVE),
                name="store_credit_hold_one_active_per_checkout",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(status=HoldStatus.ACTIVE),
                name="store_credit_hold_active_exp",
            )
        ]


class Entry(ActorFields):
    """An immutable ledger line. Corrections are new entries (DB-enforced)."""

    # Indexed by store_credit_entry_hist (account, -id).
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    direction = models.CharField(max_length=6, choices=EntryDirection.choices)
    amount = models.DecimalField(**MONEY)
    balance_after = models.DecimalField(**MONEY)
    kind = models.CharField(max_length=32, choices=EntryKind.choices)
    reason = models.TextField(blank=True, default="")
    hold = models.ForeignKey(
        Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    checkout_id = models.UUIDField(null=True, blank=True)
    transaction_id = models.UUIDField(null=True, blank=True)
    gift_card_id = models.BigIntegerField(null=True, blank=True)
    reference = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="store_credit_entry_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0),
                name="store_credit_entry_balance_after_gte_0",
            ),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="store_credit_entry_hist")]
        ordering = ["-id"]

    @property
    def signed_amount(self) -> Decimal:
        return self.amount if self.direction == EntryDirection.CREDIT else -self.amount


class IdempotencyRecord(models.Model):
    """First result of a keyed operation; replays return it (DB-unique key)."""

    key = models.CharField(max_length=255)
    operation = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    entry = models.ForeignKey(Entry, null=True, on_delete=models.PROTECT, related_name="+")
    hold = models.ForeignKey(Hold, null=True, on_delete=models.PROTECT, related_name="+")
    credit_memo = models.ForeignKey(
        "CreditMemo", null=True, on_delete=models.PROTECT, related_name="+"
    )
    reimbursement_run = models.ForeignKey(
        "ReimbursementRun", null=True, on_delete=models.PROTECT, related_name="+"
    )
    payout = models.ForeignKey(
        "Payout", null=True, on_delete=models.PROTECT, related_name="+"
    )
    # Results that may outlive no customer (credit management): "<kind>:<pk>", no FK.
    result_ref = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key"], name="store_credit_idempotency_key")
        ]


class GiftCardRedeemAttempt(models.Model):
    """One code entry by a customer; failed ones count against the attempt limits
    (per customer, per client address, overall)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The caller's address as Saleor determines it (saleor/core/utils get_client_ip);
    # NULL for calls made without a request (staff tools, tasks) and older rows.
    client_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["client_address", "created_at"],
                name="sc_gc_attempt_address_time",
            )
        ]


class CreditMemo(ActorFields):
    """An order (or part of it) refunded to the customer's store credit."""

    order_id = models.UUIDField(db_index=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(**MONEY)
    lines_amount = models.DecimalField(**MONEY, default=Decimal(0))
    shipping_amount = models.DecimalField(**MONEY, default=Decimal(0))
    extra_amount = models.DecimalField(**MONEY, default=Decimal(0))
    from_store_credit = models.DecimalField(
        **MONEY, default=Decimal(0),
        help_text="Part returned through the store-credit payment itself.",
    )
    from_other_methods = models.DecimalField(
        **MONEY, default=Decimal(0),
        help_text="Part paid by other methods, settled by a granted refund.",
    )
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="store_credit_memo_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(
                    amount=F("lines_amount") + F("shipping_amount") + F("extra_amount")
                ),
                name="store_credit_memo_amount_parts",
            ),
            models.CheckConstraint(
                condition=Q(amount=F("from_store_credit") + F("from_other_methods")),
                name="store_credit_memo_amount_sources",
            ),
        ]


class CreditMemoLine(models.Model):
    memo = models.ForeignKey(CreditMemo, on_delete=models.PROTECT, related_name="lines")
    order_line_id = models.UUIDField(db_index=True)
    quantity = models.PositiveIntegerField()
    amount = models.DecimalField(**MONEY)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """Outbox + delivery log of outgoing store credit webhooks.

    Rows are written in the same DB transaction as the change they describe, so an
    event exists exactly when its change committed; Celery sends it after commit.
    """

    event_id = models.UUIDField(db_index=True)
    event = models.CharField(max_length=64)
    payload = models.JSONField()
    target_url = models.URLField(max_length=2048)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="store_credit_delivery_due",
            )
        ]


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"


class ReimbursementRun(ActorFields):
    """A batch paying out store credit balances at or above a minimum."""

    currency = models.CharField(max_length=3)
    minimum_amount = models.DecimalField(**MONEY)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING
    )
    selected_count = models.PositiveIntegerField(default=0)
    processed_count = models.PositiveIntegerField(default=0)
    payout_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    total_amount = models.DecimalField(**MONEY, default=Decimal(0))
    cursor_account_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    VOIDED = "voided", "Voided"


class Payout(models.Model):
    # Indexed by the unique (run, account) constraint.
    run = models.ForeignKey(ReimbursementRun, on_delete=models.PROTECT, related_name="payouts",
                            db_index=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payouts")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16, choices=PayoutStatus.choices, default=PayoutStatus.PENDING
    )
    payee_name = models.CharField(max_length=255, blank=True, default="")
    payee_email = models.CharField(max_length=254, blank=True, default="")
    payee_address = models.TextField(blank=True, default="")
    payout_account = models.CharField(max_length=255, blank=True, default="")
    details_missing = models.BooleanField(default=False)
    debit_entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="+")
    reversal_entry = models.ForeignKey(
        Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference = models.CharField(max_length=255, blank=True, default="")
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            # Structural exactly-once: one payout per account per run.
            models.UniqueConstraint(
                fields=["run", "account"], name="store_credit_payout_once_per_run"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="store_credit_payout_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(reversal_entry__isnull=True)
                | Q(status__in=["failed", "voided"]),
                name="store_credit_payout_reversal_only_when_failed_or_voided",
            ),
        ]


class PayoutDetails(models.Model):
    """A customer's bank details for reimbursement payouts.

    Kept here, not in Saleor's private metadata (which every MANAGE_USERS holder can
    read): the API shows them masked and in full only with HANDLE_PAYMENTS. Deleted
    with the customer."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
        related_name="store_credit_payout_details",
    )
    account_number = models.CharField(max_length=64)
    account_holder = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=80, blank=True, default="")  # "<type>:<id>"


class LedgerCheck(models.Model):
    """Result of a reconciliation (`ledger_verify()`) run; drift is kept for staff."""

    ok = models.BooleanField()
    accounts_checked = models.PositiveIntegerField()
    drift = models.JSONField(default=list, blank=True)
    # Balances still owed to customers Saleor deleted (not drift: money to write off).
    orphaned = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)


class CreditLot(models.Model):
    """Credit that expires. Spending takes the soonest-expiring lots first; what is
    left of a lot at its expiry is written off by an `expiry` entry."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lots")
    entry = models.OneToOneField(Entry, on_delete=models.PROTECT, related_name="lot")
    amount = models.DecimalField(**MONEY)
    remaining = models.DecimalField(**MONEY)
    expires_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="store_credit_lot_remaining_within_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "expires_at"],
                condition=Q(remaining__gt=0),
                name="store_credit_lot_open",
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(remaining__gt=0),
                name="store_credit_lot_due",
            ),
        ]
from .credit.models import *  # noqa: E402,F401,F403 (credit management tables)
from .credit.terms_models import *  # noqa: E402,F401,F403 (payment terms, pay on account)
from .credit.risk_models import *  # noqa: E402,F401,F403 (risk, insurance, forced holds)
from .notifications.models import *  # noqa: E402,F401,F403 (e-mail delivery log)
