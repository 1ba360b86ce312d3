"""Store credit on a checkout: apply, remove, follow the cart, and the gate Saleor's
checkout completion passes through.

Locks, always in Saleor's order (payment/lock_objects.py: checkout row, then its
transaction items): the checkout row, then the store-credit TransactionItem, then the
ledger account (inside the ledger services). Saleor's transaction-flow completion
checks the authorization before it locks the checkout and never checks it again
(saleor/checkout/complete_checkout.py, `_prepare_checkout_with_transactions` and
`create_order_from_checkout`), so `prepare_completion` runs in
`preprocess_order_creation`: it re-checks the payment from fresh rows under those
locks, trims a reservation the cart no longer needs and marks the hold as being
completed; apply and remove refuse a marked hold until Saleor's own checkout
completion lock time has passed.
"""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from saleor.checkout import CheckoutAuthorizeStatus
from saleor.checkout.calculations import calculate_checkout_total_with_gift_cards
from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
from saleor.checkout.lock_objects import checkout_qs_select_for_update
from saleor.checkout.models import Checkout
from saleor.payment.models import TransactionItem

from .. import saleor_tx as tx
from ..conf import StoreCreditSettings
from ..errors import (
    InsufficientFunds,
    InvalidAmount,
    NotFound,
    StoreCreditError,
    StoreCreditErrorCode,
)
from ..ledger import Actor, get_or_create_account, place_hold, release_hold, resize_hold
from ..models import Account, Hold, HoldStatus
from ..money import parse_amount, quantum

SYSTEM = Actor.system("store credit")
_ZERO = Decimal(0)


# --- reads -------------------------------------------------------------------------------


def applied_hold(checkout_token) -> Hold | None:
    return (
        Hold.objects.filter(checkout_id=checkout_token, status=HoldStatus.ACTIVE)
        .select_related("account")
        .first()
    )


def available_for(user, currency: str) -> Decimal:
    account = Account.objects.filter(user=user, currency=currency).first()
    return account.available if account else _ZERO


def coverage(transactions, *, excluding=None) -> Decimal:
    """What transactions cover: authorized + charged + pending (Saleor's own rule,
    checkout/payment_utils.py `_get_payment_amount_for_checkout`)."""
    covered = transactions.exclude(pk=excluding).aggregate(
        a=Sum("authorized_value"), c=Sum("charged_value"),
        ap=Sum("authorize_pending_value"), cp=Sum("charge_pending_value"),
    )
    return sum((value or _ZERO for value in covered.values()), _ZERO)


def checkout_total(checkout: Checkout, manager, *, fresh=False) -> Decimal:
    """The checkout's total after gift cards, as Saleor's statuses use it.

    Prices are recalculated only when Saleor's price cache for the checkout has
    expired; `fresh`: the caller knows Saleor has just priced it (checkoutComplete)."""
    if fresh or (checkout.price_expiration and checkout.price_expiration > timezone.now()):
        gift_cards = sum(
            (card.current_balance_amount for card in checkout.gift_cards.all()), _ZERO
        )
        return max(checkout.total_gross_amount - gift_cards, _ZERO)
    lines, _ = fetch_checkout_lines(checkout)
    info = fetch_checkout_info(checkout, lines, manager)
    return calculate_checkout_total_with_gift_cards(manager, info, lines).gross.amount


def left_to_pay(checkout: Checkout, manager, *, excluding=None, fresh=False) -> Decimal:
    """Checkout total minus what other transactions already cover."""
    total = checkout_total(checkout, manager, fresh=fresh)
    paid = coverage(checkout.payment_transactions.all(), excluding=excluding)
    return max(total - paid, _ZERO).quantize(quantum(checkout.currency))


def _our_item(checkout_pk, *, lock: bool) -> TransactionItem | None:
    items = TransactionItem.objects.filter(checkout_id=checkout_pk, app_identifier=tx.GATEWAY_ID)
    if lock:
        items = items.select_for_update(of=("self",))
    return items.order_by("-pk").first()


def _active_hold(item) -> Hold | None:
    if item is None:
        return None
    return Hold.objects.filter(transaction_id=item.token, status=HoldStatus.ACTIVE).first()


def _being_completed(hold: Hold | None) -> bool:
    lock_time = getattr(django_settings, "CHECKOUT_COMPLETION_LOCK_TIME", 180)
    return bool(
        hold is not None and hold.completing_at
        and timezone.now() - hold.completing_at < timedelta(seconds=lock_time)
    )


def _locked() -> StoreCreditError:
    return StoreCreditError(
        "The checkout is being completed; try again in a moment.",
        field="checkoutId", code=StoreCreditErrorCode.CHECKOUT_LOCKED,
    )


def _lock_own_checkout(checkout_token, user):
    """Lock the customer's own checkout and its store-credit payment (in that order).
    Someone else's checkout, or one already turned into an order, looks missing."""
    checkout = checkout_qs_select_for_update().filter(pk=checkout_token).first()
    if checkout is None or user is None or checkout.user_id != user.pk:
        raise NotFound("Checkout not found.", field="checkoutId")
    if checkout.is_checkout_locked():
        raise _locked()
    item = _our_item(checkout.pk, lock=True)
    hold = _active_hold(item)
    if _being_completed(hold):
        raise _locked()
    return checkout, item, hold


# --- changing the reservation ------------------------------------------------------------


def _set_reserved(item, hold: Hold | None, value: Decimal, *, account, manager,
                  reason: str, requested=..., expires_at=None) -> Hold | None:
    """Make the reservation of `item` exactly `value`, in the ledger and in Saleor."""
    current = hold.amount if hold is not None else _ZERO
    if hold is None:
        if value <= 0:
            return None
        hold = place_hold(
            account=account, amount=value, actor=SYSTEM, checkout_id=item.checkout_id,
            transaction_id=item.token, expires_at=expires_at,
            requested_amount=None if requested is ... else requested,
        )
        tx.authorize(item, value, f"Store credit reserved (hold {hold.pk}).", manager)
        return hold
    if value == current and (requested is ... or requested == hold.requested_amount) \
            and expires_at is None:
        return hold
    successor = resize_hold(hold=hold, amount=value, actor=SYSTEM, reason=reason,
                            requested_amount=requested, expires_at=expires_at)
    if value > current:
        tx.authorize(item, value - current, f"Store credit reserved: {reason}.", manager)
    elif value < current:
        tx.cancel(item, current - value, f"Store credit released: {reason}.",
                  still_authorized=value > 0)
    return successor


def apply_to_checkout(
    *, checkout_token, user, manager, settings: StoreCreditSettings, amount=None
) -> Hold:
    """Reserve store credit for a checkout; applying again changes the amount."""
    checkout = Checkout.objects.filter(pk=checkout_token).first()
    if checkout is None or user is None or checkout.user_id != user.pk:
        raise NotFound("Checkout not found.", field="checkoutId")
    if not settings.channel_enabled(checkout.channel.slug):
        raise StoreCreditError(
            "Store credit cannot be used in this channel.",
            field="checkoutId", code=StoreCreditErrorCode.CHANNEL_NOT_ENABLED,
        )
    currency = checkout.currency
    requested = None if amount is None else parse_amount(amount, currency)
    previous = _our_item(checkout.pk, lock=False)
    # May reprice the checkout (Saleor saves prices under its own lock): before ours.
    remaining = left_to_pay(checkout, manager, excluding=previous.pk if previous else None)

    with transaction.atomic():
        checkout, item, hold = _lock_own_checkout(checkout_token, user)
        account = get_or_create_account(user=user, currency=currency)
        available = account.available + (hold.amount if hold else _ZERO)
        if requested is None:
            value = min(available, remaining)
            if value <= 0:
                raise (
                    InsufficientFunds("You have no store credit to apply.")
                    if available <= 0
                    else StoreCreditError(
                        "Nothing is left to pay.", field="amount",
                        code=StoreCreditErrorCode.NOTHING_TO_PAY,
                    )
                )
        else:
            value = requested
            if value > remaining:
                raise InvalidAmount(
                    f"Only {remaining} {currency} is left to pay on this checkout."
                )
            if value > available:
                raise InsufficientFunds("Not enough store credit available.")
        if item is None:
            limit = getattr(django_settings, "TRANSACTION_ITEMS_LIMIT", 100)
            if checkout.payment_transactions.count() >= limit:
                raise StoreCreditError(
                    "This checkout has too many payment attempts.",
                    field="checkoutId", code=StoreCreditErrorCode.TRANSACTION_LIMIT_REACHED,
                )
            item = tx.new_store_credit_item(checkout, user)
        return _set_reserved(
            item, hold, value, account=account, manager=manager,
            reason="applied again", requested=requested,
            expires_at=timezone.now() + timedelta(minutes=settings.hold_lifetime_minutes),
        )


def remove_from_checkout(*, checkout_token, user) -> None:
    with transaction.atomic():
        _checkout, item, hold = _lock_own_checkout(checkout_token, user)
        if hold is not None:
            release_hold(hold=hold, actor=SYSTEM, reason="removed by the customer")
            tx.cancel(item, hold.amount, "Store credit released: removed by the customer.",
                      still_authorized=False)


def release_checkout_hold(hold: Hold, item, reason: str, *, expired=False) -> None:
    """Release a checkout's hold and its authorization (caller holds the locks)."""
    release_hold(hold=hold, actor=SYSTEM, reason=reason, expired=expired)
    if item is not None and item.authorized_value > 0:
        tx.cancel(item, min(hold.amount, item.authorized_value),
                  f"Store credit released: {reason}.", still_authorized=False)


def follow_cart(checkout: Checkout, manager) -> Hold | None:
    """Fit the checkout's reservation to the cart as it is now: never more than is
    left to pay, up to what the customer asked for (or all available).

    Called after every checkout change (Saleor's `checkout_updated`) and when a
    storefront reads the applied amount. Costs no query for a checkout without any
    payment (its authorize status is NONE)."""
    if checkout.authorize_status == CheckoutAuthorizeStatus.NONE:
        return None
    hold = applied_hold(checkout.pk)
    if hold is None or _being_completed(hold):
        return hold
    item = _our_item(checkout.pk, lock=False)
    if item is None:
        return hold
    needed = left_to_pay(checkout, manager, excluding=item.pk)
    with transaction.atomic():
        locked = checkout_qs_select_for_update().filter(pk=checkout.pk).first()
        item = _our_item(checkout.pk, lock=True)
        hold = _active_hold(item)
        if locked is None or hold is None or _being_completed(hold):
            return hold
        account = Account.objects.get(pk=hold.account_id)
        wanted = hold.requested_amount if hold.requested_amount is not None else None
        ceiling = account.available + hold.amount
        target = min(needed, ceiling if wanted is None else min(wanted, ceiling))
        if target == hold.amount:
            return hold
        return _set_reserved(
            item, hold, max(target, _ZERO), account=account, manager=manager,
            reason="the cart changed",
        )


# --- checkout completion -----------------------------------------------------------------


def prepare_completion(checkout_info, *, not_fully_paid) -> None:
    """The gate in `preprocess_order_creation`: under the checkout lock, the payment
    must still cover the checkout (a Remove may have committed after Saleor checked
    it), a reservation larger than what is left to pay is trimmed, and the hold is
    marked as being completed. `not_fully_paid`: the ValidationError to raise.

    Costs no query for a checkout without payments, one for a checkout paid only by
    other methods."""
    checkout = checkout_info.checkout
    if checkout.authorize_status == CheckoutAuthorizeStatus.NONE:
        return
    if not TransactionItem.objects.filter(
        checkout_id=checkout.pk, app_identifier=tx.GATEWAY_ID
    ).exists():
        return
    with transaction.atomic():
        locked = checkout_qs_select_for_update().filter(pk=checkout.pk).first()
        if locked is None:
            return
        item = _our_item(locked.pk, lock=True)
        if item is None:
            return
        hold = _active_hold(item)
        ours = hold.amount if hold is not None else _ZERO
        others = coverage(locked.payment_transactions.all(), excluding=item.pk)
        # complete_checkout priced the checkout just before (fetch_checkout_data)
        gift_cards = locked.get_total_gift_cards_balance().amount
        total = max(checkout.total_gross_amount - gift_cards, _ZERO)
        if others + ours < total and not checkout_info.channel.allow_unpaid_orders:
            raise not_fully_paid
        if hold is None:
            return
        needed = max(total - others, _ZERO)
        if ours > needed:
            account = Account.objects.get(pk=hold.account_id)
            hold = _set_reserved(
                item, hold, needed, account=account, manager=None,
                reason="the order needs less",
            )
        if hold is not None:
            Hold.objects.filter(pk=hold.pk).update(completing_at=timezone.now())
