"""Convert a Saleor gift card's remaining balance into store credit, atomically.

The card row is locked (Saleor's own lock helper), validated, drained to zero with
Saleor's BALANCE_ADJUSTED event and a note naming the ledger entry, and the account is
credited in the same DB transaction. Every reason a code can't be used gives the same
answer (including "the balance would exceed the maximum"), so the endpoint is no oracle
for which codes exist. Failed tries are limited per customer, per client address and
overall; the limits are counted under one advisory lock, so concurrent guesses cannot
slip past them.
"""

import ipaddress

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from saleor.checkout.models import Checkout
from saleor.giftcard.events import gift_card_deactivated_event, gift_card_note_added_event
from saleor.giftcard.search import mark_gift_cards_search_index_as_dirty
from saleor.order import OrderStatus

from .compat import (  # Saleor internals that differ between versions
    gift_card_authorized_in_a_transaction,
    gift_card_balance_adjusted_event,
    gift_card_qs_select_for_update,
    gift_card_usage_restriction_reason,
)
from .conf import StoreCreditSettings
from .errors import IdempotencyKeyReused, StoreCreditError, StoreCreditErrorCode
from .integration import after_balance_change
from .ledger import Actor, Refs, credit, get_or_create_account
from .ledger.locks import LockSpace, advisory_xact_lock
from .models import Entry, EntryKind, GiftCardRedeemAttempt
from .signals import store_credit_event

logger = logging.getLogger(__name__)

INVALID_CODE_MESSAGE = "This gift card code can't be converted to store credit."
TOO_MANY_ATTEMPTS_MESSAGE = "Too many gift card attempts. Try again later."


def _invalid() -> StoreCreditError:
    return StoreCreditError(
        INVALID_CODE_MESSAGE, field="code", code=StoreCreditErrorCode.INVALID_GIFT_CARD
    )


def _why_unusable(card, user_id) -> str | None:
    """Internal reason (logged, never shown) a card cannot be converted."""
    if card is None:
        return "no such code"
    if not card.is_active:
        return "inactive"
    if card.expiry_date and card.expiry_date < timezone.now().date():
        return "expired"
    if reason := gift_card_usage_restriction_reason(card, user_id):
        return reason
    if card.current_balance_amount <= 0:
        return "no balance"
    if (
        gift_card_authorized_in_a_transaction(card)
        or Checkout.objects.filter(gift_cards=card).exists()
    ):
        return "in use at a checkout"
    if card.orders.filter(status__in=[OrderStatus.UNCONFIRMED, OrderStatus.DRAFT]).exists():
        return "in use by an unconfirmed order"
    return None


def client_address(request) -> str | None:
    """The caller's IP address exactly as Saleor determines it (the first valid
    X-Forwarded-For address, else REMOTE_ADDR: saleor/core/utils/__init__.py
    `get_client_ip`, which Saleor uses for checkouts and orders)."""
    from saleor.core.utils import get_client_ip

    if request is None or not hasattr(request, "META"):
        return None
    raw = (get_client_ip(request) or "").strip()
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def _check_attempts(
    user, settings: StoreCreditSettings, address: str | None
) -> GiftCardRedeemAttempt:
    """Count this try against the limits and record it, committed at once so a
    refusal still counts. A try counts as failed until it succeeds, so tries in
    flight count too.

    One advisory lock (the plugin's own key space) serialises the count and the
    insert of every try: without it, concurrent guesses all read the same count and
    all pass. The section is a few indexed counts, so one lock for the shop (which the
    overall limit needs anyway) costs nothing measurable; it also covers the
    per-customer and per-address counts."""
    with transaction.atomic():
        advisory_xact_lock(LockSpace.GIFT_CARD_ATTEMPTS, 0)
        failed = GiftCardRedeemAttempt.objects.filter(
            succeeded=False, created_at__gte=timezone.now() - timedelta(hours=1)
        )
        over = (
            failed.filter(user=user).count() >= settings.gift_card_attempts_per_hour
            or (
                address is not None
                and failed.filter(client_address=address).count()
                >= settings.gift_card_attempts_per_address
            )
            or failed.count() >= settings.gift_card_attempts_overall
        )
        if over:
            logger.info(
                "Refused gift card try by customer %s from %s: attempt limit",
                user.pk, address,
            )
            raise StoreCreditError(
                TOO_MANY_ATTEMPTS_MESSAGE,
                field="code", code=StoreCreditErrorCode.TOO_MANY_ATTEMPTS,
            )
        return GiftCardRedeemAttempt.objects.create(user=user, client_address=address)


def redeem_gift_card(
    *,
    code: str,
    customer,
    actor: Actor,
    settings: StoreCreditSettings,
    idempotency_key: str | None = None,
    requestor_user=None,
    requestor_app=None,
    address: str | None = None,
) -> Entry:
    """`address`: the caller's client address (`client_address(request)`), None for
    calls without a request."""
    code = (code or "").strip()
    if idempotency_key and (first := _replayed(idempotency_key, code, customer)):
        return first
    attempt = _check_attempts(customer, settings, address)
    try:
        return _redeem(code, customer, actor, settings, idempotency_key, attempt,
                       requestor_user, requestor_app)
    except StoreCreditError:
        # A concurrent call with the same key may have won the card meanwhile.
        if idempotency_key and (first := _replayed(idempotency_key, code, customer)):
            return first
        raise


def _replayed(key: str, code: str, customer) -> Entry | None:
    from saleor.giftcard.models import GiftCard

    from .models import IdempotencyRecord

    record = IdempotencyRecord.objects.filter(key=key).select_related(
        "entry__account"
    ).first()
    if record is None:
        return None
    entry = record.entry
    card_id = GiftCard.objects.filter(code=code).values_list("pk", flat=True).first()
    if (
        entry is None
        or entry.kind != EntryKind.GIFT_CARD
        or entry.account.user_id != customer.pk
        or entry.gift_card_id != card_id
    ):
        raise IdempotencyKeyReused(
            "This idempotency key was already used for a different request."
        )
    return entry


def _redeem(code, customer, actor, settings, idempotency_key, attempt,
            requestor_user, requestor_app) -> Entry:
    with transaction.atomic():
        card = gift_card_qs_select_for_update().filter(code=code).first() if code else None
        if reason := _why_unusable(card, customer.pk):
            logger.info(
                "Refused gift card conversion for customer %s: %s", customer.pk, reason
            )
            raise _invalid()
        amount = card.current_balance_amount
        try:
            account = get_or_create_account(user=customer, currency=card.currency)
            entry = credit(
                account=account,
                amount=amount,
                kind=EntryKind.GIFT_CARD,
                actor=actor,
                reason=f"Gift card ending {card.display_code}",
                refs=Refs(gift_card_id=card.pk),
                max_balance=settings.max_balance,
                expires_in_days=settings.credit_expiry_days,
                idempotency_key=idempotency_key,
            )
        except IdempotencyKeyReused:
            raise
        except StoreCreditError as exc:
            # Only a real card gets this far: "would exceed the maximum balance", a
            # currency the ledger refuses... must answer like an unknown code.
            logger.info(
                "Refused gift card conversion for customer %s: %s", customer.pk,
                getattr(exc.code, "value", exc.code),
            )
            raise _invalid() from None
        old_current, old_initial = card.current_balance_amount, card.initial_balance_amount
        card.current_balance_amount = 0
        card.used_by = customer
        card.used_by_email = customer.email
        card.last_used_on = timezone.now()
        fields = ["current_balance_amount", "used_by", "used_by_email", "last_used_on"]
        if settings.deactivate_redeemed_gift_cards:
            card.is_active = False
            fields.append("is_active")
        card.save(update_fields=fields)
        gift_card_balance_adjusted_event(
            card, old_current, old_initial, requestor_user, requestor_app
        )
        gift_card_note_added_event(
            card, requestor_user, requestor_app,
            f"Balance {old_current} {card.currency} converted to store credit "
            # the user id, not the e-mail: this note lives in Saleor's table, which
            # the plugin's anonymisation (privacy.py) does not rewrite
            f"(ledger entry {entry.pk}, customer #{customer.pk}).",
        )
        if settings.deactivate_redeemed_gift_cards:
            gift_card_deactivated_event(card, requestor_user, requestor_app)
        mark_gift_cards_search_index_as_dirty([card])
        store_credit_event.send(
            sender=GiftCardRedeemAttempt, event="gift_card_redeemed",
            currency=card.currency,
            data={
                "gift_card_id": card.pk, "gift_card_last_chars": card.display_code,
                "customer_user_id": customer.pk, "currency": card.currency,
                "amount": str(amount), "entry_id": entry.pk,
                "card_deactivated": settings.deactivate_redeemed_gift_cards,
            },
        )
        GiftCardRedeemAttempt.objects.filter(pk=attempt.pk).update(succeeded=True)
        after_balance_change(entry, settings=settings)
        transaction.on_commit(lambda: _gift_card_updated(card))
    return entry


def _gift_card_updated(card) -> None:
    from saleor.plugins.manager import get_plugins_manager

    get_plugins_manager(allow_replica=False).gift_card_updated(card)
