"""Personal data: what the plugin forgets when Saleor deletes a user, and how the
money they leave behind stays accounted (orphaned balances and their write-off).

Saleor deletes customers in `customerDelete`, `customerBulkDelete` (a queryset
delete) and `accountDelete` (saleor/graphql/account/mutations/staff/customer_delete.py,
saleor/graphql/account/bulk_mutations/customer_bulk_delete.py,
saleor/graphql/account/mutations/account/account_delete.py). Its plugin hooks
(`customer_deleted`, `account_deleted`) run after the row is gone and the plugin's
foreign keys are already NULL, so the link to the plugin's rows is lost by then.
Django's `pre_delete` signal runs for every path, bulk included (a queryset with
receivers is not fast-deleted), inside the deleting transaction and before the
SET_NULL updates: that is where `anonymise_user` runs, so the deletion and the
anonymisation commit or fail together. Staff users are anonymised the same way.

What is kept: every account row, its balance and every ledger line (the money), the
former user id (on accounts, actor ids and audit rows, so rows still link up), and
a placeholder label `deleted user #<id>` where an e-mail or name was.
"""

import logging
import re
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q, Sum, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from .errors import InsufficientFunds, NotFound, StoreCreditError, StoreCreditErrorCode
from .ledger import Actor, debit
from .ledger.idempotency import run_idempotent
from .ledger.locks import lock_account
from .models import (
    Account,
    ActorType,
    CreditMemo,
    Entry,
    EntryKind,
    GiftCardRedeemAttempt,
    Payout,
    ReimbursementRun,
    WebhookDelivery,
    deleted_user_label,
)
from .money import quantum

logger = logging.getLogger(__name__)

# Read by the append-only triggers (migration 0015): while it is "on" in the current
# transaction, an UPDATE that changes only personal-text columns is allowed.
_ANONYMISING = "store_credit.anonymising"
# Keys of outgoing webhook payloads that carry a customer's personal data.
_BLANKED_KEYS = {"customer_email", "payee_email", "email", "payee_address", "payout_account"}
_PLACEHOLDER_KEYS = {"payee_name"}


def _set_anonymising(on: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [_ANONYMISING, "on" if on else "off"])


def _needles(user) -> tuple[list[str], list[str]]:
    """(strong, weak) texts that identify the user. Strong ones (e-mail, full name) are
    looked for anywhere; weak ones (a first name, a street) only in rows tied to them."""
    strong = {user.email or ""}
    weak = {user.first_name or "", user.last_name or ""}
    if user.first_name and user.last_name:
        strong.add(f"{user.first_name} {user.last_name}")
    addresses = [getattr(user, "default_billing_address", None),
                 getattr(user, "default_shipping_address", None)]
    if user.pk is not None and hasattr(user, "addresses"):  # Saleor's User
        addresses += list(user.addresses.all())
    for address in filter(None, addresses):
        weak |= {address.first_name, address.last_name, address.street_address_1,
                 address.street_address_2}
        if address.first_name and address.last_name:
            strong.add(f"{address.first_name} {address.last_name}")

    def usable(values, minimum):
        return sorted({v.strip() for v in values if v and len(v.strip()) >= minimum},
                      key=len, reverse=True)  # longest first: a full name before its parts

    strong_list = usable(strong, 3)
    return strong_list, usable(set(strong_list) | weak, 2)


def _replace(value, needles, placeholder):
    if isinstance(value, str):
        for needle in needles:
            # whole words only: "Li" goes, "Delivery" stays
            value = re.sub(rf"(?<!\w){re.escape(needle)}(?!\w)", placeholder, value,
                           flags=re.IGNORECASE)
        return value
    if isinstance(value, list):
        return [_replace(item, needles, placeholder) for item in value]
    if isinstance(value, dict):
        return {key: _replace(item, needles, placeholder) for key, item in value.items()}
    return value


def _blank_keys(value, placeholder):
    if isinstance(value, list):
        return [_blank_keys(item, placeholder) for item in value]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key in _BLANKED_KEYS and isinstance(item, str):
                result[key] = ""
            elif key in _PLACEHOLDER_KEYS and isinstance(item, str):
                result[key] = placeholder
            else:
                result[key] = _blank_keys(item, placeholder)
        return result
    return value


def _scrub(queryset, fields, needles, placeholder, *, blank_keys=False) -> int:
    """Replace the needles in `fields` of the rows of `queryset` that contain one."""
    if not needles:
        return 0
    condition = Q()
    annotations = {}
    for name in fields:
        alias = f"_sc_text_{name}"
        annotations[alias] = Cast(name, TextField())
        for needle in needles:
            condition |= Q(**{f"{alias}__icontains": needle})
    changed = 0
    model = queryset.model
    for row in queryset.annotate(**annotations).filter(condition).values("pk", *fields):
        updates = {}
        for name in fields:
            new = _replace(row[name], needles, placeholder)
            if blank_keys:
                new = _blank_keys(new, placeholder)
            if new != row[name]:
                updates[name] = new
        if updates:
            changed += model.objects.filter(pk=row["pk"]).update(**updates)
    return changed


def anonymise_user(user) -> None:
    """Remove `user`'s personal data from every plugin table; keep the money."""
    from .credit.models import (
        BlockingRule,
        CreditAudit,
        CreditGroup,
        LimitAdjustment,
        OrderHold,
    )
    from .credit.terms_models import OnAccountEntry

    pk = user.pk
    placeholder = deleted_user_label(pk)
    strong, weak = _needles(user)
    with transaction.atomic():
        _set_anonymising(True)
        account_ids = list(
            Account.objects.select_for_update().filter(user_id=pk)
            .order_by("pk").values_list("pk", flat=True)
        )
        Account.objects.filter(pk__in=account_ids).update(
            email="", former_user_id=pk, anonymised_at=timezone.now()
        )
        # Who did things: the actor id stays (it links the rows), the label goes.
        as_actor = Q(actor_id=str(pk), actor_type__in=[ActorType.STAFF, ActorType.CUSTOMER])
        entries = Entry.objects.filter(as_actor)
        if not user.is_staff:  # a customer only ever acts on their own accounts
            entries = entries.filter(account_id__in=account_ids)
        entries.update(actor_label=placeholder)
        for model in (CreditMemo, ReimbursementRun, LimitAdjustment, CreditAudit,
                      OnAccountEntry):
            model.objects.filter(as_actor).update(actor_label=placeholder)
        actor_keys = [f"{ActorType.STAFF}:{pk}", f"{ActorType.CUSTOMER}:{pk}"]
        OrderHold.objects.filter(requested_by__in=actor_keys).update(
            requested_by_label=placeholder)
        OrderHold.objects.filter(resolved_by__in=actor_keys).update(
            resolved_by_label=placeholder)
        _forget_in_risk_tables(as_actor, actor_keys, placeholder)

        # Rows about the customer: payee data goes, free text is scrubbed.
        Payout.objects.filter(account_id__in=account_ids).update(
            payee_name=placeholder, payee_email="", payee_address="", payout_account="",
        )
        tied = [
            (Entry.objects.filter(account_id__in=account_ids), ["reason"]),
            (CreditMemo.objects.filter(account_id__in=account_ids), ["reason"]),
            (Payout.objects.filter(account_id__in=account_ids), ["note", "reference"]),
            (CreditAudit.objects.filter(user_id=pk), ["message", "data"]),
            (OrderHold.objects.filter(user_id=pk),
             ["reasons", "resolution_reason", "requested_by_label", "resolved_by_label"]),
        ]
        for queryset, fields in tied:
            _scrub(queryset, fields, weak, placeholder)
        _scrub(WebhookDelivery.objects.filter(payload__data__customer_user_id=pk),
               ["payload", "last_error"], weak, placeholder, blank_keys=True)
        # Anywhere else the e-mail or full name was written (staff remarks, labels,
        # run filters, audit and webhook texts).
        anywhere = [
            (Payout.objects.all(), ["note", "resolved_by", "reference"]),
            (ReimbursementRun.objects.all(), ["filters", "actor_label"]),
            (CreditAudit.objects.all(), ["message", "data", "actor_label"]),
            (LimitAdjustment.objects.all(), ["reason", "actor_label"]),
            (OnAccountEntry.objects.all(), ["reference", "note", "actor_label"]),
            (OrderHold.objects.all(),
             ["reasons", "resolution_reason", "requested_by_label", "resolved_by_label"]),
            (CreditGroup.objects.all(), ["name", "description"]),
            (BlockingRule.objects.all(), ["name"]),
            (WebhookDelivery.objects.all(), ["payload", "last_error"]),
        ]
        for queryset, fields in anywhere + _risk_texts():
            _scrub(queryset, fields, strong, placeholder)
        # Deleted with the user (CASCADE) anyway; cleared here so that no address
        # outlives the user even if that rule changes.
        GiftCardRedeemAttempt.objects.filter(user_id=pk).update(client_address=None)
        # The e-mail log keeps what was sent and when, not to whom.
        from .notifications import forget_recipient

        forget_recipient(pk)
        _set_anonymising(False)
    logger.info("Store credit: personal data of user %s anonymised (%s accounts kept)",
                pk, len(account_ids))


def _forget_in_risk_tables(as_actor, actor_keys, placeholder) -> None:
    """Risk scores, insurance and forced holds (credit/risk_models.py): who set them up.
    Rows about the customer themselves go with the user (CASCADE)."""
    from .credit import risk_models as rm

    for model in (rm.AutomaticLimitRule, rm.ForcedHoldRule, rm.ManualScoreValue,
                  rm.RiskScoreRun, rm.CreditCover):
        model.objects.filter(as_actor).update(actor_label=placeholder)
    rm.ForcedHold.objects.filter(lifted_by__in=actor_keys).update(lifted_by_label=placeholder)


def _risk_texts() -> list:
    from .credit import risk_models as rm

    return [
        (rm.ScoringGroup.objects.all(), ["name", "description"]),
        (rm.RiskClass.objects.all(), ["name", "description"]),
        (rm.AutomaticLimitRule.objects.all(), ["name"]),
        (rm.ForcedHoldRule.objects.all(), ["name"]),
        (rm.ForcedHold.objects.all(), ["rule_name", "message", "lift_reason"]),
        (rm.CreditCover.objects.all(), ["provider", "cover_type", "reference", "cancel_reason"]),
    ]


def on_user_pre_delete(sender, instance, **_kwargs):
    """`pre_delete` receiver for Saleor's User (every deletion path, bulk included)."""
    if instance.pk is not None:
        anonymise_user(instance)


# --- orphaned balances ------------------------------------------------------------------


def orphaned_accounts(currency: str | None = None):
    """Accounts whose customer was deleted and that still hold money."""
    accounts = Account.objects.filter(user__isnull=True, balance__gt=0)
    if currency:
        accounts = accounts.filter(currency=currency.upper())
    return accounts.order_by("currency", "pk")


def orphaned_totals(currency: str | None = None) -> dict[str, Decimal]:
    return {
        row["currency"]: row["total"]
        for row in orphaned_accounts(currency).values("currency").annotate(total=Sum("balance"))
    }


def write_off_orphaned(*, account_id: int, reason: str, actor: Actor,
                       idempotency_key: str | None = None) -> Entry:
    """Write off what an orphaned account has available, with a reason (audited as a
    `write_off` ledger entry carrying the actor and the reason). What active holds
    reserve is left; it can be written off once they resolve."""
    reason = (reason or "").strip()
    if not reason:
        raise StoreCreditError("Give a reason for the write-off.", field="reason",
                               code=StoreCreditErrorCode.REQUIRED)
    if len(reason) > 1000:
        raise StoreCreditError("The reason must be at most 1000 characters.",
                               field="reason")
    if not Account.objects.filter(pk=account_id).exists():
        raise NotFound("Store credit account not found.", field="accountId")

    def work():
        account = lock_account(account_id)
        if account.user_id is not None:
            raise StoreCreditError(
                "Only the balance of a deleted customer can be written off.",
                field="accountId", code=StoreCreditErrorCode.ACCOUNT_NOT_ORPHANED,
            )
        amount = account.available.quantize(quantum(account.currency))
        if amount <= 0:
            raise InsufficientFunds("Nothing available to write off.", field="accountId")
        return debit(account=account, amount=amount, kind=EntryKind.WRITE_OFF, actor=actor,
                     reason=reason)

    params = {"account": account_id, "reason": reason}
    return run_idempotent(idempotency_key, "write_off_orphaned", params, work)
