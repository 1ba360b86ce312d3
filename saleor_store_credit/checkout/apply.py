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
from django.db.models import Exists, F, IntegerField, OuterRef, Subquery, Sum
from django.utils import timezone

from saleor.checkout import CheckoutAuthorizeStatus, CheckoutChargeStatus
from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
from saleor.checkout.lock_objects import checkout_qs_select_for_update
from saleor.checkout.models import Checkout
from saleor.giftcard.models import GiftCard
from saleor.payment.models import TransactionItem

from .. import compat
from .. import saleor_tx as tx
from ..conf import StoreCreditSettings
from ..errors import (
    InsufficientFunds,
    InvalidAmount,
    NotFound,
    StoreCreditError,
    StoreCreditErrorCode,
)
from ..ledger import Actor, place_hold, release_hold, resize_hold
from ..models import Account, Hold, HoldStatus
from ..money import parse_amount, quantum
from ..queries import scalar

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


# What a transaction covers of a checkout: authorized + charged + pending (Saleor's
# own rule, checkout/payment_utils.py `_get_payment_amount_for_checkout`).
_COVERED = (F("authorized_value") + F("charged_value") + F("authorize_pending_value")
            + F("charge_pending_value"))


def coverage(transactions, *, excluding=None) -> Decimal:
    """What `transactions` cover (`_COVERED`)."""
    return transactions.exclude(pk=excluding).aggregate(t=Sum(_COVERED))["t"] or _ZERO


def payment_annotations(outer="pk") -> dict:
    """What one query tells about a checkout's payments, as annotations:
    - `sc_others`: what its other (not store credit) transactions cover, by Saleor's
      rule: authorized + charged + pending (checkout/payment_utils.py,
      `_get_payment_amount_for_checkout`);
    - `sc_gift_cards`: the balance of its active gift cards
      (Checkout.get_total_gift_cards_balance);
    - `sc_transactions`: how many transactions it has (Saleor's
      TRANSACTION_ITEMS_LIMIT);
    - `sc_on_account`: what its pay-on-account authorization covers (part of
      `sc_others`; store credit comes first, pay on account takes the rest)."""
    transactions = TransactionItem.objects.filter(checkout_id=OuterRef(outer))
    others = transactions.exclude(app_identifier=tx.GATEWAY_ID)
    cards = GiftCard.objects.active(date=timezone.now().date()).filter(
        checkouts=OuterRef(outer))
    return {
        "sc_others": scalar(others, "SUM", _COVERED, default=0),
        "sc_gift_cards": scalar(cards, "SUM", F("current_balance_amount"), default=0),
        "sc_transactions": scalar(transactions, "COUNT", F("pk"), IntegerField()),
        "sc_on_account": scalar(transactions.filter(app_identifier=tx.ON_ACCOUNT_ID), "SUM",
                                _COVERED, default=0),
    }


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
    return compat.checkout_total_with_gift_cards(manager, info, lines).gross.amount


def left_to_pay(checkout: Checkout, manager, *, excluding=None, fresh=False) -> Decimal:
    """Checkout total minus what other transactions already cover."""
    total = checkout_total(checkout, manager, fresh=fresh)
    paid = coverage(checkout.payment_transactions.all(), excluding=excluding)
    return max(total - paid, _ZERO).quantize(quantum(checkout.currency))


def _our_item(checkout_pk, *, lock: bool) -> TransactionItem | None:
    """The checkout's store-credit TransactionItem: the one carrying the active hold,
    else the newest. (On Saleor's own path every `transactionInitialize` makes a new
    item, so the newest one need not be the reserved one.) `sc_held`: whether it
    carries an active hold."""
    held = Hold.objects.filter(transaction_id=OuterRef("token"), status=HoldStatus.ACTIVE)
    items = TransactionItem.objects.filter(
        checkout_id=checkout_pk, app_identifier=tx.GATEWAY_ID
    ).annotate(sc_held=Exists(held))
    if lock:
        items = items.select_for_update(of=("self",))
    return items.order_by("-sc_held", "-pk").first()


def active_hold_of(item, *, lock=False) -> Hold | None:
    """The item's active hold; `lock`: with its row lock, so the completion mark read
    is the latest (see `prepare_completion`). No query for an item read by
    `_our_item` under the checkout lock without a hold: holds are placed and
    released only under that lock, so none can have appeared since."""
    if item is None or getattr(item, "sc_held", True) is False:
        return None
    holds = Hold.objects.filter(transaction_id=item.token, status=HoldStatus.ACTIVE)
    if lock:
        holds = holds.select_for_update(of=("self",))
    return holds.first()


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


def _lock_own_checkout(checkout_token, user, *, with_payments=False, need_item=True):
    """Lock the customer's own checkout and its store-credit payment (in that order).
    Someone else's checkout, or one already turned into an order, looks missing.

    One statement when the checkout has no active hold (`need_item=False`: nor is a
    store-credit item without a hold wanted): which item is the checkout's own is read
    with the checkout lock, and holds are placed and released only under that lock.
    `with_payments`: the checkout also carries `payment_annotations()` and the
    customer's account in its currency (`sc_account_*`), read under the lock."""
    checkouts = checkout_qs_select_for_update().filter(pk=checkout_token).annotate(
        **_own_item_annotations())
    if with_payments:
        checkouts = checkouts.annotate(**payment_annotations(), **_account_annotations(user))
    checkout = own_unlocked(checkouts, user)
    item = hold = None
    if checkout.sc_item_pk is not None and (checkout.sc_item_held or need_item):
        item = _our_item(checkout.pk, lock=True)
        hold = active_hold_of(item, lock=True)
    if _being_completed(hold):
        raise _locked()
    return checkout, item, hold


def own_unlocked(checkouts, user) -> Checkout:
    """The first of `checkouts` (a locking queryset of one) if it is `user`'s own and
    Saleor is not completing it; someone else's, or a missing one, looks missing.
    Shared by both gateways' entry points (store credit, pay on account)."""
    checkout = checkouts.first()
    if checkout is None or user is None or checkout.user_id != user.pk:
        raise NotFound("Checkout not found.", field="checkoutId")
    if checkout.is_checkout_locked():
        raise _locked()
    return checkout


def _own_item_annotations() -> dict:
    """`_our_item` as annotations of a checkout: `sc_item_pk`, `sc_item_held`."""
    held = Hold.objects.filter(transaction_id=OuterRef("token"), status=HoldStatus.ACTIVE)
    items = TransactionItem.objects.filter(
        checkout_id=OuterRef("pk"), app_identifier=tx.GATEWAY_ID
    ).annotate(sc_held=Exists(held)).order_by("-sc_held", "-pk")
    return {
        "sc_item_pk": Subquery(items.values("pk")[:1]),
        "sc_item_held": Subquery(items.values("sc_held")[:1]),
    }


def _account_annotations(user) -> dict:
    """The customer's account in the checkout's currency, as annotations."""
    accounts = Account.objects.filter(
        user_id=user.pk if user is not None else None, currency=OuterRef("currency"))
    return {f"sc_account_{field}": Subquery(accounts.values(field)[:1])
            for field in ("pk", "balance", "held")}


def _account_of(checkout, user) -> Account | None:
    """The account read with `_account_annotations`, or None if there is none."""
    if checkout.sc_account_pk is None:
        return None
    account = Account(id=checkout.sc_account_pk, user_id=user.pk,
                      currency=checkout.currency, balance=checkout.sc_account_balance,
                      held=checkout.sc_account_held)
    account._state.adding = False
    return account


# --- changing the reservation ------------------------------------------------------------


def _set_reserved(item, hold: Hold | None, value: Decimal, *, account, manager,
                  reason: str, requested=..., expires_at=None,
                  new_item=False) -> Hold | None:
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
        tx.authorize(item, value, f"Store credit reserved (hold {hold.pk}).", manager,
                     first=new_item)
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


def _left_for_store_credit(checkout, manager) -> Decimal:
    """What is left to pay after other payments, for a checkout annotated with
    `payment_annotations()`; reprices it first when Saleor's price cache expired."""
    if checkout.price_expiration and checkout.price_expiration > timezone.now():
        total = max(checkout.total_gross_amount - checkout.sc_gift_cards, _ZERO)
    else:
        total = checkout_total(checkout, manager)
    # store credit first: a pay-on-account authorization gives way to it (it is
    # trimmed to the rest when the checkout completes, checkout/on_account.py)
    others = checkout.sc_others - checkout.sc_on_account
    return max(total - others, _ZERO).quantize(quantum(checkout.currency))


def apply_to_checkout(
    *, checkout_token, user, manager, settings: StoreCreditSettings, amount=None,
    saleor_item: TransactionItem | None = None, checkout: Checkout | None = None,
) -> Hold:
    """Reserve store credit for a checkout; applying again changes the amount.

    The one service behind both entry points. The plugin endpoint passes no
    `saleor_item`: the reservation goes on the plugin's own TransactionItem, which
    is authorized here. Saleor's `transactionInitialize` passes the item Saleor has
    just created for the request (`saleor_item`) and the checkout it has just loaded
    and priced (`checkout`, so it is not read again): an earlier reservation moves
    onto the new item (the earlier item's authorization is cancelled, so the checkout
    keeps one reservation), and the authorization is recorded on it.

    What is left to pay is decided under the checkout lock, from the payments as
    they are then. The returned hold also tells what the storefront shows next:
    `sc_available` (the balance still available) and `sc_left_to_pay` (what other
    payment methods have to cover)."""
    seen = checkout
    if seen is None or seen.pk != checkout_token:
        seen = Checkout.objects.select_related("channel").filter(pk=checkout_token).first()
    if seen is None or user is None or seen.user_id != user.pk:
        raise NotFound("Checkout not found.", field="checkoutId")
    if not settings.channel_enabled(seen.channel.slug):
        raise StoreCreditError(
            "Store credit cannot be used in this channel.",
            field="checkoutId", code=StoreCreditErrorCode.CHANNEL_NOT_ENABLED,
        )
    currency = seen.currency
    requested = None if amount is None else parse_amount(amount, currency)
    if not _prices_fresh(seen):
        # Saleor reprices and saves the checkout under its own lock: before ours
        checkout_total(seen, manager)

    # Saleor's path writes nothing before the ledger's first write, which has a
    # savepoint of its own (and moving an earlier reservation takes one, `_move_onto`),
    # so a refusal leaves the transaction as it was: this block needs no savepoint of
    # its own, the refusal is raised after it. The plugin endpoint creates its item
    # first: a savepoint.
    refusal = None
    with transaction.atomic(savepoint=saleor_item is None):
        try:
            result, remaining, available, value = _reserve(
                checkout_token, user, manager, settings, requested, saleor_item)
        except StoreCreditError as exc:
            if saleor_item is None:
                raise
            refusal = exc
    if refusal is not None:
        raise refusal
    result.sc_available = available - value
    result.sc_left_to_pay = remaining - value
    return result


def _reserve(checkout_token, user, manager, settings, requested, saleor_item):
    """`apply_to_checkout` under the locks: (hold, left to pay before, available
    before, the amount reserved)."""
    checkout, item, hold = _lock_own_checkout(
        checkout_token, user, with_payments=True, need_item=saleor_item is None)
    currency = checkout.currency
    remaining = _left_for_store_credit(checkout, manager)
    account = _account_of(checkout, user)
    available = (account.available if account else _ZERO) + (
        hold.amount if hold else _ZERO)
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
    if saleor_item is not None:
        result = _move_onto(saleor_item, item, hold, value, account=account,
                            requested=requested, settings=settings)
        return result, remaining, available, value
    new_item = item is None
    if new_item:
        limit = getattr(django_settings, "TRANSACTION_ITEMS_LIMIT", 100)
        if (checkout.sc_transactions or 0) >= limit:
            raise StoreCreditError(
                "This checkout has too many payment attempts.",
                field="checkoutId",
                code=StoreCreditErrorCode.TRANSACTION_LIMIT_REACHED,
            )
        item = tx.new_store_credit_item(checkout, user)
    result = _set_reserved(
        item, hold, value, account=account, manager=manager,
        reason="applied again", requested=requested, new_item=new_item,
        expires_at=timezone.now() + timedelta(minutes=settings.hold_lifetime_minutes),
    )
    return result, remaining, available, value


def _prices_fresh(checkout) -> bool:
    return bool(checkout.price_expiration and checkout.price_expiration > timezone.now())


def _move_onto(saleor_item, item, hold, value, *, account, requested, settings) -> Hold:
    """Saleor's path: the reservation is placed on `saleor_item` and its
    authorization recorded under the locks (Saleor records the same answer after the
    hook and finds this event as its duplicate, `saleor_tx.record_authorization`); an
    earlier one, on `item`, is released and its authorization cancelled first."""
    if hold is not None and item is not None and item.pk == saleor_item.pk:
        return hold  # the same request again (same idempotency key): already reserved
    expires_at = timezone.now() + timedelta(minutes=settings.hold_lifetime_minutes)
    if hold is not None:
        # a refusal of the new hold must keep the earlier one (see apply_to_checkout)
        with transaction.atomic():
            release_checkout_hold(hold, item, "applied again")
            hold = place_hold(
                account=account, amount=value, actor=SYSTEM,
                checkout_id=saleor_item.checkout_id, transaction_id=saleor_item.token,
                requested_amount=requested, expires_at=expires_at,
            )
    else:
        # under apply_to_checkout's block, which wrote nothing yet: a refusal (raised
        # before any write) leaves it usable, so no savepoint is needed
        hold = place_hold(
            account=account, amount=value, actor=SYSTEM,
            checkout_id=saleor_item.checkout_id, transaction_id=saleor_item.token,
            requested_amount=requested, expires_at=expires_at, savepoint=False,
        )
    tx.record_authorization(saleor_item, tx.session_answer(hold))
    return hold


def remove_from_checkout(*, checkout_token, user) -> None:
    with transaction.atomic():
        _checkout, item, hold = _lock_own_checkout(checkout_token, user, need_item=False)
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
    # pay on account gives way to store credit (it is trimmed to the rest at completion)
    others = coverage(checkout.payment_transactions.exclude(
        app_identifier=tx.ON_ACCOUNT_ID), excluding=item.pk)
    needed = max(checkout_total(checkout, manager) - others, _ZERO).quantize(
        quantum(checkout.currency))
    with transaction.atomic():
        locked = checkout_qs_select_for_update().filter(pk=checkout.pk).first()
        item = _our_item(checkout.pk, lock=True)
        hold = active_hold_of(item, lock=True)
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


def prepare_completion(checkout_info, *, not_fully_paid, present: bool | None = None
                       ) -> bool | None:
    """The gate in `preprocess_order_creation`: the payment must still cover the
    checkout (a Remove may have committed after Saleor checked it), a reservation
    larger than what is left to pay is trimmed, and the hold is marked as being
    completed (apply and remove then refuse it). `not_fully_paid`: the
    ValidationError to raise. Returns whether the checkout has a store-credit payment
    (None: not looked at), so the capture at confirmation need not look again.

    No statement when the checkout has no payment at all, or when other payments'
    charges alone cover it: store credit on a checkout is only ever authorized
    (charged once it is an order), so Saleor's decision did not rest on it, a Remove
    cannot make the order unpaid, and a reservation the order does not need is
    released at confirmation (`order.capture_for_order`). One statement in the other
    usual cases: a checkout without store credit, and one whose reservation fits (it
    is marked then). Marking takes the hold's row lock, which apply, remove and the
    cart follower take too before they look at the mark, so whichever comes second
    sees the other's result. Otherwise the slow path decides under the checkout and
    item locks. In Saleor's transaction flow this runs outside any transaction
    (complete_checkout.py, `complete_checkout_with_transaction`), so the block below
    is the outermost one and commits; in the payment flow it runs inside Saleor's
    own. Either way no savepoint is needed: the error is raised after the block.

    `present`: whether the checkout has a store-credit transaction, when the caller
    already looked (`gateway.gateways_on`, one look for this gate and pay on
    account's); False then costs no statement here."""
    checkout = checkout_info.checkout
    if checkout.authorize_status == CheckoutAuthorizeStatus.NONE:
        return False
    if checkout.charge_status in _CHARGED:
        return None
    if present is False:  # the caller looked: no store-credit transaction
        return False
    # complete_checkout priced the checkout just before (fetch_checkout_data)
    total = checkout.total_gross_amount
    unpaid_allowed = checkout_info.channel.allow_unpaid_orders
    with transaction.atomic(savepoint=False):
        item_pk, marked = _mark_if_it_fits(checkout.pk, total, unpaid_allowed)
        if item_pk is None or marked:
            return item_pk is not None
        unpaid = _prepare_slowly(checkout.pk, total, unpaid_allowed)
    if unpaid:
        raise not_fully_paid
    return True


_CHARGED = (CheckoutChargeStatus.FULL, CheckoutChargeStatus.OVERCHARGED)


_MARK_IF_IT_FITS = """
WITH item AS (
    SELECT i.id, i.token FROM {items} i
     WHERE i.checkout_id = %(checkout)s AND i.app_identifier = %(gateway)s
     ORDER BY EXISTS (SELECT 1 FROM {holds} x
                       WHERE x.transaction_id = i.token AND x.status = %(active)s) DESC,
              i.id DESC LIMIT 1
), others AS (
    SELECT COALESCE(SUM(authorized_value + charged_value + authorize_pending_value
                        + charge_pending_value), 0) AS covered
      FROM {items} WHERE checkout_id = %(checkout)s
       AND app_identifier IS DISTINCT FROM %(gateway)s
), cards AS (
    SELECT COALESCE(SUM(g.current_balance_amount), 0) AS balance
      FROM {cards} g JOIN {checkout_cards} cg ON cg.giftcard_id = g.id
     WHERE cg.checkout_id = %(checkout)s AND g.is_active
       AND (g.expiry_date IS NULL OR g.expiry_date >= %(today)s)
), marked AS (
    UPDATE {holds} h SET completing_at = %(now)s
      FROM item, others, cards
     WHERE h.transaction_id = item.token AND h.status = %(active)s
       AND h.amount <= GREATEST(%(total)s - cards.balance, 0) - others.covered
       AND (%(unpaid_allowed)s
            OR others.covered + h.amount >= GREATEST(%(total)s - cards.balance, 0))
    RETURNING h.id
)
SELECT (SELECT id FROM item), EXISTS (SELECT 1 FROM marked)
"""


def _mark_if_it_fits(checkout_pk, total, unpaid_allowed) -> tuple:
    """One statement: find the checkout's store-credit item and mark its active hold
    as being completed if, with the other payments (Saleor's rule,
    checkout/payment_utils.py `_get_payment_amount_for_checkout`) and active gift
    cards (Checkout.get_total_gift_cards_balance), it covers the checkout without
    exceeding what is left to pay. (item pk or None, whether it was marked)."""
    from django.db import connection

    sql = _MARK_IF_IT_FITS.format(
        items=TransactionItem._meta.db_table, cards=GiftCard._meta.db_table,
        checkout_cards=Checkout.gift_cards.through._meta.db_table,
        holds=Hold._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {
            "checkout": checkout_pk, "gateway": tx.GATEWAY_ID,
            "today": timezone.now().date(), "now": timezone.now(),
            "active": HoldStatus.ACTIVE, "total": total,
            "unpaid_allowed": bool(unpaid_allowed),
        })
        return cursor.fetchone()


def _prepare_slowly(checkout_pk, total, unpaid_allowed) -> bool:
    """The reservation does not simply fit (removed, too large, or the checkout not
    covered): under the checkout and item locks, trim or refuse. True: the checkout
    is not paid."""
    if checkout_qs_select_for_update().filter(pk=checkout_pk).values_list(
        "pk", flat=True
    ).first() is None:
        return False
    # new statements: they see what committed while the lock was awaited
    checkout = Checkout.objects.annotate(**payment_annotations()).get(pk=checkout_pk)
    item = _our_item(checkout_pk, lock=True)
    hold = active_hold_of(item, lock=True)
    ours = hold.amount if hold is not None else _ZERO
    total = max(total - checkout.sc_gift_cards, _ZERO)
    others = checkout.sc_others
    if others + ours < total and not unpaid_allowed:
        return True
    if hold is None:
        return False
    needed = max(total - others, _ZERO)
    if ours > needed:
        account = Account.objects.get(pk=hold.account_id)
        hold = _set_reserved(item, hold, needed, account=account, manager=None,
                             reason="the order needs less")
    if hold is not None:
        Hold.objects.filter(pk=hold.pk).update(completing_at=timezone.now())
    return False
