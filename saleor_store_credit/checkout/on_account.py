"""Pay on account (issue 19, item 2): a logged-in B2B customer with a credit limit
places an order without a card; the amount is authorized against their credit and
charged when the invoice is recorded paid.

- **Who**: the checkout's own logged-in customer, in a channel listed in "Pay on
  account channels" where credit management applies, with a credit limit (their own
  or their group's) in the checkout's currency that is not 0. Guests, other
  customers and apps get nothing (not even the gateway in the list).
- **How much**: what is left to pay after the checkout's other payments (store
  credit first, the rest on account), or a smaller amount asked for.
- **The credit check**, under the customer's (or group's) credit lock
  (credit/exposure.py): the blocking rules run as for an order (a firing BLOCK refuses;
  HOLD and WARN let the authorization through and the order is held or noted when it
  is placed, as today). Without a "credit limit exceeded" rule for the customer the
  limit itself is the ceiling: more than the available credit (limit − exposure, the
  lower of customer and group) is refused. The authorization counts as exposure at
  once (`exposure.on_account_checkouts_exposure`), so a second checkout of the same
  customer checked after it sees it: two checkouts cannot both use the same credit.
- **Saleor's view equals ours**: every amount change is a Saleor transaction event on
  the on-account TransactionItem (as saleor_tx does for store credit) written in the
  same database transaction as the `OnAccountPayment` row that mirrors it
  (authorized_value = open, charged_value = paid − refunded).
- **Paid**: staff or an accounting app record an invoice payment
  (`record_payment`, also reached by Saleor's own charge request on the transaction);
  partial payments add up, never beyond what is open. Cancelling (part of) the
  authorization is a credit note; a refund returns what was paid. A cancelled order's
  authorization is released; a checkout's lapses after the hold lifetime (`expire`).

Two entry points share `authorize_on_checkout`: the plugin endpoint
(`checkoutPayOnAccount`, a plugin-owned TransactionItem) and Saleor's own
`transactionInitialize` with the gateway id `saleor-store-credit.on-account` (the
identifier of a second companion App the merchant installs from
`/plugins/global/saleor-store-credit/app/on-account/manifest`, because Saleor accepts
a gateway id only when an App has it: saleor/graphql/payment/mutations/transaction/
transaction_initialize.py `clean_app_from_payment_gateway`).
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from saleor.checkout import CheckoutAuthorizeStatus
from saleor.checkout.lock_objects import checkout_qs_select_for_update
from saleor.checkout.models import Checkout
from saleor.payment import TransactionAction, TransactionEventType
from saleor.payment.models import TransactionEvent, TransactionItem
from saleor.payment.utils import get_transaction_item_params

from .. import compat
from .. import saleor_tx as tx
from ..credit import audit
from ..credit import exposure as exp
from ..credit.holds import customer_subject
from ..credit.models import AuditKind, RuleAction, RuleType
from ..credit.rules import CUSTOMER_TEXT, Figures, Outcome, active_rules, applicable_rules, evaluate
from ..credit.terms import mark_paid_if_settled
from ..credit.terms_models import OnAccountEntry, OnAccountEntryKind, OnAccountPayment
from ..errors import (
    CurrencyMismatch,
    InvalidAmount,
    NotFound,
    StoreCreditError,
    StoreCreditErrorCode,
)
from ..ledger import Actor
from ..money import normalize_currency, parse_amount, quantum
from .apply import _CHARGED, _locked, checkout_total, coverage, own_unlocked

ON_ACCOUNT_ID = tx.ON_ACCOUNT_ID
NAME = tx.ON_ACCOUNT_NAME
SYSTEM = Actor.system("pay on account")
REMOVED = "Pay on account removed."
_ZERO = Decimal(0)
# what the PAYMENT_METHOD blocking rule matches for an on-account checkout
METHODS = frozenset({ON_ACCOUNT_ID, NAME.lower(), "other"})


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(quantum(currency))} {currency}"


# --- reads --------------------------------------------------------------------------------


def _items(*, checkout_pk=None, order_pk=None, lock=False, open_only=True):
    items = TransactionItem.objects.filter(app_identifier=ON_ACCOUNT_ID)
    items = items.filter(checkout_id=checkout_pk) if checkout_pk else items.filter(
        order_id=order_pk)
    if open_only:
        items = items.filter(authorized_value__gt=0)
    if lock:
        items = items.select_for_update(of=("self",))
    return list(items.order_by("pk"))


def _payments(items, *, lock=False) -> dict:
    """The `OnAccountPayment` of each item, by item token (locked after the items)."""
    payments = OnAccountPayment.objects.filter(
        transaction_token__in=[item.token for item in items])
    if lock:
        payments = payments.select_for_update()
    return {p.transaction_token: p for p in payments.order_by("pk")}


def remaining_for(checkout: Checkout, manager, *, fresh=False) -> Decimal:
    """What is left to pay after every payment that is not on account (store credit,
    cards, gift cards): what pay on account takes."""
    total = checkout_total(checkout, manager, fresh=fresh)
    others = coverage(checkout.payment_transactions.exclude(app_identifier=ON_ACCOUNT_ID))
    return max(total - others, _ZERO).quantize(quantum(checkout.currency))


def authorized_on(checkout_pk) -> Decimal:
    return sum((item.authorized_value for item in _items(checkout_pk=checkout_pk)), _ZERO)


@dataclass
class Position:
    """A customer's credit for pay on account in one currency."""

    eligible: bool
    available: Decimal | None  # None: unlimited
    reason: str = ""


def position(user, currency: str, *, pending: Decimal = _ZERO, profile=..., now=None,
             checkout_token=None) -> tuple[Position, object]:
    """(position, subject): eligible when a customer or group limit applies and none
    is 0; `available` = the lower headroom, with `pending` counted as exposure."""
    subject = customer_subject(
        user.pk, currency, profile=profile, order_total=pending, pending_unpaid=pending,
        payment_methods=METHODS, checkout_token=checkout_token, now=now or timezone.now())
    figures = Figures(subject)
    limits = [lim for lim in (figures.customer_limit(), figures.group_limit())
              if lim is not None]
    if not limits:
        return Position(False, None, f"No credit limit in {currency}."), subject
    if any(not lim.unlimited and lim.amount <= 0 for lim in limits):
        return Position(False, _ZERO, f"The credit limit in {currency} is 0."), subject
    headroom = [lim.amount - exposure for _who, exposure, lim in figures.checks()]
    return Position(True, min(headroom) if headroom else None), subject


def _no_credit(currency) -> StoreCreditError:
    return StoreCreditError(
        f"Pay on account needs a credit account in {currency}.", field="checkoutId",
        code=StoreCreditErrorCode.CREDIT_NOT_AVAILABLE)


# --- Saleor's side: the transaction events -------------------------------------------------


def _actions(item, payment: OnAccountPayment) -> list[str]:
    actions = []
    if payment.open_amount > 0:
        actions += [tx.CHARGE, tx.CANCEL] if item.order_id else [tx.CANCEL]
    if payment.paid_amount - payment.refunded_amount > 0:
        actions.append(tx.REFUND)
    return actions


def session_answer(payment: OnAccountPayment) -> dict:
    """Saleor's transaction-session answer for an authorization: the same for the
    same payment, so Saleor's duplicate check recognises a repeat."""
    answer = tx.response(
        TransactionEventType.AUTHORIZATION_SUCCESS, payment.authorized_amount,
        f"Authorized on account (payment {payment.pk}).", actions=[tx.CANCEL])
    answer["pspReference"] = f"on-account-{payment.pk}"
    answer["paymentMethodDetails"] = {"type": "OTHER", "name": NAME}
    return answer


def _new_item(checkout, user) -> TransactionItem:
    limit = getattr(django_settings, "TRANSACTION_ITEMS_LIMIT", 100)
    if checkout.payment_transactions.count() >= limit:
        raise StoreCreditError(
            "This checkout has too many payment attempts.", field="checkoutId",
            code=StoreCreditErrorCode.TRANSACTION_LIMIT_REACHED)
    params = get_transaction_item_params(
        checkout, user, None, None, available_actions=[TransactionAction.CANCEL], name=NAME)
    params["app_identifier"] = ON_ACCOUNT_ID
    return TransactionItem.objects.create(
        **params, **compat.transaction_item_method_fields("other", NAME))


def _record_authorization(item, payment, manager, *, native: bool) -> None:
    if native:
        # Saleor records the hook's answer after it returns, outside any lock; the
        # same answer recorded now is then its duplicate (saleor_tx.record_session_answer)
        tx.record_session_answer(item, session_answer(payment), manager)
        return
    request_event = TransactionEvent.objects.create(
        transaction=item, type=TransactionEventType.AUTHORIZATION_REQUEST,
        amount_value=payment.authorized_amount, currency=item.currency,
        include_in_calculations=False, idempotency_key=str(uuid4()),
        app_identifier=ON_ACCOUNT_ID,
    )
    compat.create_transaction_event_for_transaction_session(
        request_event, manager, session_answer(payment))


def _entry(payment, kind, amount, actor: Actor, *, order_id=None, reference="", note=""):
    return OnAccountEntry.objects.create(
        payment=payment, kind=kind, amount=amount, order_id=order_id,
        reference=(reference or "")[:255], note=(note or "")[:255], **actor.entry_fields())


def _move(item, payment, kind: str, amount: Decimal, message: str, *, actor: Actor,
          request_event=None, reference="", note="", user=None, app=None):
    """One change of an authorization, in our row and in Saleor's transaction."""
    action, result = {
        OnAccountEntryKind.PAYMENT: (TransactionAction.CHARGE,
                                     TransactionEventType.CHARGE_SUCCESS),
        OnAccountEntryKind.CANCELLED: (TransactionAction.CANCEL,
                                       TransactionEventType.CANCEL_SUCCESS),
        OnAccountEntryKind.REFUND: (TransactionAction.REFUND,
                                    TransactionEventType.REFUND_SUCCESS),
    }[kind]
    if kind == OnAccountEntryKind.PAYMENT:
        payment.open_amount -= amount
        payment.paid_amount += amount
    elif kind == OnAccountEntryKind.CANCELLED:
        payment.open_amount -= amount
        payment.cancelled_amount += amount
    else:
        payment.refunded_amount += amount
    payment.save()
    entry = _entry(payment, kind, amount, actor, order_id=item.order_id,
                   reference=reference, note=note or message)
    request_event = request_event or tx.request(
        item, amount, action, user=user, app=app, app_identifier=ON_ACCOUNT_ID)
    tx.answer(request_event, result, amount, message, actions=_actions(item, payment))
    return entry


def _fail(request_event, result, message: str) -> None:
    tx.fail(request_event, result, message)


# --- checkout: authorize, remove, completion ------------------------------------------------


def _being_completed(payments) -> bool:
    lock_time = getattr(django_settings, "CHECKOUT_COMPLETION_LOCK_TIME", 180)
    now = timezone.now()
    return any(p.completing_at and now - p.completing_at < timedelta(seconds=lock_time)
               for p in payments)


def _lock_own_checkout(checkout_token, user):
    """The customer's own checkout locked, then its open on-account items and their
    rows (Saleor's lock order: checkout, then its transactions)."""
    checkout = own_unlocked(checkout_qs_select_for_update().filter(pk=checkout_token), user)
    items = _items(checkout_pk=checkout.pk, lock=True)
    payments = _payments(items, lock=True)
    if _being_completed(payments.values()):
        raise _locked()
    return checkout, items, payments


def _release(items, payments, reason: str, actor: Actor = SYSTEM) -> Decimal:
    released = _ZERO
    for item in items:
        payment = payments.get(item.token)
        if payment is None or payment.open_amount <= 0:
            continue
        released += payment.open_amount
        _move(item, payment, OnAccountEntryKind.CANCELLED, payment.open_amount,
              f"Pay on account released: {reason}.", actor=actor)
    return released


class _Refused(Exception):
    def __init__(self, error: StoreCreditError, data: dict):
        super().__init__(error.message)
        self.error, self.data = error, data


def _decide(subject, value: Decimal, currency: str) -> Outcome:
    """The credit check of an authorization (see the module docstring)."""
    rules = active_rules()
    outcome = evaluate(subject, rules) if rules else Outcome([], {})
    blocked = outcome.with_action(RuleAction.BLOCK)
    decision = {"action": outcome.action, "figures": outcome.figures,
                "reasons": [r.as_dict() for r in outcome.reasons]}
    if blocked:
        why = "; ".join(sorted({CUSTOMER_TEXT[r.rule_type] for r in blocked}))
        raise _Refused(StoreCreditError(
            f"This order cannot be placed on account: {why}.", field="checkoutId",
            code=StoreCreditErrorCode.CREDIT_BLOCKED), decision)
    limit_rules = [r for r in applicable_rules(subject, rules)
                   if r.rule_type == RuleType.LIMIT_EXCEEDED]
    if not limit_rules:
        figures = Figures(subject)
        for _who, exposure, limit in figures.checks():
            if exposure > limit.amount:
                available = max(limit.amount - (exposure - value), _ZERO)
                raise _Refused(StoreCreditError(
                    f"The order exceeds your available credit ({_money(available, currency)}"
                    " available).", field="amount",
                    code=StoreCreditErrorCode.CREDIT_NOT_AVAILABLE),
                    {**decision, "figures": figures.as_dict()})
    return outcome


def authorize_on_checkout(*, checkout_token, user, manager, settings, amount=None,
                          saleor_item: TransactionItem | None = None) -> OnAccountPayment:
    """Authorize (part of) the checkout on the customer's account; calling again
    replaces the earlier authorization. `saleor_item`: the TransactionItem Saleor
    created for a `transactionInitialize` (else the plugin makes its own)."""
    checkout = Checkout.objects.select_related("channel").filter(pk=checkout_token).first()
    if checkout is None or user is None or checkout.user_id != user.pk:
        raise NotFound("Checkout not found.", field="checkoutId")
    if not settings.on_account_in(checkout.channel.slug):
        raise StoreCreditError("Pay on account is not available in this channel.",
                               field="checkoutId", code=StoreCreditErrorCode.CHANNEL_NOT_ENABLED)
    currency = checkout.currency
    requested = None if amount is None else parse_amount(amount, currency)
    # may reprice the checkout (Saleor saves prices under its own lock): before ours
    remaining = remaining_for(checkout, manager)
    if requested is not None and requested > remaining:
        raise InvalidAmount(f"Only {remaining} {currency} is left to pay on this checkout.")
    value = remaining if requested is None else requested
    if value <= 0:
        raise StoreCreditError("Nothing is left to pay.", field="amount",
                               code=StoreCreditErrorCode.NOTHING_TO_PAY)
    actor = Actor.for_user(user)
    try:
        with transaction.atomic():
            checkout, items, payments = _lock_own_checkout(checkout_token, user)
            profile = exp.profile_for(user.pk)
            exp.lock_scope(user.pk, profile.group_id if profile else None)
            # the earlier authorization stops counting before the new one is judged
            # (rolled back with everything else if the new one is refused)
            _release(items, payments, "paid on account again")
            credit, subject = position(user, currency, pending=value, profile=profile,
                                       checkout_token=checkout.token)
            if not credit.eligible:
                raise _Refused(_no_credit(currency), {"reason": credit.reason})
            subject.order_total = checkout.total_gross_amount
            outcome = _decide(subject, value, currency)
            item = saleor_item if saleor_item is not None else _new_item(checkout, user)
            payment = OnAccountPayment.objects.create(
                transaction_token=item.token, user=user, checkout_token=checkout.token,
                currency=currency, authorized_amount=value, open_amount=value,
                expires_at=timezone.now() + timedelta(minutes=settings.hold_lifetime_minutes),
            )
            _entry(payment, OnAccountEntryKind.AUTHORIZED, value, actor)
            _record_authorization(item, payment, manager, native=saleor_item is not None)
            audit.record(
                AuditKind.ON_ACCOUNT_AUTHORIZED, actor,
                f"Pay on account authorized: {_money(value, currency)}"
                + (f" ({outcome.summary()})" if outcome.reasons else "") + ".",
                user_id=user.pk,
                data={"checkout": str(checkout.token), "amount": str(value),
                      "transaction": str(item.token), "action": outcome.action,
                      "reasons": [r.as_dict() for r in outcome.reasons],
                      "figures": outcome.figures},
            )
    except _Refused as refused:
        audit.record(
            AuditKind.ON_ACCOUNT_REFUSED, actor,
            f"Pay on account refused: {refused.error.message}", user_id=user.pk,
            data={"checkout": str(checkout_token), "amount": str(value), **refused.data})
        raise refused.error from None
    return payment


def remove_from_checkout(*, checkout_token, user) -> Decimal:
    with transaction.atomic():
        _checkout, items, payments = _lock_own_checkout(checkout_token, user)
        return _release(items, payments, "removed by the customer", Actor.for_user(user))


def prepare_completion(checkout_info, *, not_fully_paid, present: bool | None = None) -> None:
    """The gate in `preprocess_order_creation`, before store credit's: an on-account
    authorization larger than what the order needs after the other payments is
    trimmed (store credit first, the rest on account), the checkout must still be
    covered, and the authorization is marked as being completed (authorize and
    remove then refuse it). `present`: whether the checkout has an on-account
    transaction, when the caller already looked (`gateway.gateways_on`).

    No query for a checkout without payments, nor for one that other payments'
    charges alone cover (an on-account authorization is then all excess, released
    when the order is placed: `attach_to_order`); one for a checkout without an
    on-account transaction, unless the caller looked."""
    checkout = checkout_info.checkout
    if checkout.authorize_status == CheckoutAuthorizeStatus.NONE or (
        checkout.charge_status in _CHARGED
    ):
        return
    if present is False:
        return
    if present is None and not TransactionItem.objects.filter(
        checkout_id=checkout.pk, app_identifier=ON_ACCOUNT_ID
    ).exists():
        return
    unpaid_allowed = checkout_info.channel.allow_unpaid_orders
    with transaction.atomic(savepoint=False):
        if checkout_qs_select_for_update().filter(pk=checkout.pk).values_list(
                "pk", flat=True).first() is None:
            return
        fresh = Checkout.objects.get(pk=checkout.pk)
        items = _items(checkout_pk=checkout.pk, lock=True)
        payments = _payments(items, lock=True)
        # complete_checkout priced the checkout just before (fetch_checkout_data)
        total = checkout_total(fresh, None, fresh=True)
        others = coverage(fresh.payment_transactions.exclude(app_identifier=ON_ACCOUNT_ID))
        needed = max(total - others, _ZERO)
        open_total = _trim(items, payments, needed)
        covered = others + min(open_total, needed)
        now = timezone.now()
        OnAccountPayment.objects.filter(
            pk__in=[p.pk for p in payments.values() if p.open_amount > 0]
        ).update(completing_at=now)
    if covered < total and not unpaid_allowed:
        raise not_fully_paid


def _trim(items, payments, needed: Decimal) -> Decimal:
    """Cancel what the locked on-account authorizations hold beyond `needed`, latest
    first; returns what was open before."""
    open_total = sum((p.open_amount for p in payments.values()), _ZERO)
    excess = open_total - needed
    for item in reversed(items):
        payment = payments.get(item.token)
        if excess <= 0 or payment is None or payment.open_amount <= 0:
            continue
        cut = min(excess, payment.open_amount)
        _move(item, payment, OnAccountEntryKind.CANCELLED, cut,
              "Pay on account reduced: the order needs less.", actor=SYSTEM)
        excess -= cut
    return open_total


# --- orders ---------------------------------------------------------------------------------


def attach_to_order(order) -> int:
    """The order now carries the checkout's on-account transactions (Saleor moved
    them): the authorizations are the order's (no more lapsing) and can be charged.
    No query for an order with nothing authorized."""
    if not getattr(order, "total_authorized_amount", None):
        return 0
    tokens = TransactionItem.objects.filter(
        order_id=order.pk, app_identifier=ON_ACCOUNT_ID).values("token")
    attached = OnAccountPayment.objects.filter(
        transaction_token__in=tokens, order_id__isnull=True
    ).update(order_id=order.pk, expires_at=None, completing_at=None)
    if attached:
        open_total = order_open(order.pk)
        # what the other payments do not cover (the gate trimmed to this already,
        # unless their charges alone covered the checkout and it did not look)
        others = order.total_charged_amount + order.total_authorized_amount - open_total
        needed = max(order.total_gross_amount - others, _ZERO)
        if open_total > needed:
            with transaction.atomic():
                items = _items(order_pk=order.pk, lock=True)
                _trim(items, _payments(items, lock=True), needed)
            open_total = order_open(order.pk)
        TransactionItem.objects.filter(
            order_id=order.pk, app_identifier=ON_ACCOUNT_ID, authorized_value__gt=0
        ).update(available_actions=[tx.CHARGE, tx.CANCEL])
        if open_total > 0:
            tx.timeline(order, "Placed on account: "
                               f"{_money(open_total, order.currency)} to be invoiced.")
    return attached


def order_open(order_id) -> Decimal:
    return sum((p.open_amount for p in OnAccountPayment.objects.filter(order_id=order_id)),
               _ZERO)


def _order_for_payment(order_id):
    from saleor.order.models import Order

    order = Order.objects.filter(pk=order_id).select_related("channel").first()
    if order is None:
        raise NotFound("Order not found.", field="orderId")
    return order


def record_payment(*, order_id, amount=None, currency=None, actor: Actor, reference="",
                   note="", user=None, app=None, item=None, request_event=None):
    """Record (part of) an order's invoice as paid: the on-account authorization is
    charged by that amount. `amount` None: everything open. Never more than is open;
    a cancelled order has nothing open. `item`/`request_event`: Saleor's own charge
    request on one on-account transaction. Returns the first `OnAccountEntry`."""
    order = _order_for_payment(order_id)
    if currency is not None and normalize_currency(currency) != order.currency:
        raise CurrencyMismatch(f"The order is in {order.currency}.")
    if order.status not in exp.OPEN_STATUSES:
        raise StoreCreditError(
            f"The order is {order.status}: there is no invoice to pay.", field="orderId",
            code=StoreCreditErrorCode.INVALID_STATUS)
    wanted = None if amount is None else parse_amount(amount, order.currency)
    with transaction.atomic():
        items = _items(order_pk=order.pk, lock=True, open_only=False)
        if item is not None:
            items = [i for i in items if i.pk == item.pk]
        payments = _payments(items, lock=True)
        open_total = sum((p.open_amount for p in payments.values()), _ZERO)
        if open_total <= 0:
            raise StoreCreditError("Nothing is open on account for this order.",
                                   field="amount", code=StoreCreditErrorCode.NOTHING_TO_PAY)
        wanted = open_total if wanted is None else wanted
        if wanted > open_total:
            raise InvalidAmount(
                f"Only {_money(open_total, order.currency)} is open on account for this "
                "order.")
        first, left = None, wanted
        for each in items:
            payment = payments.get(each.token)
            if left <= 0 or payment is None or payment.open_amount <= 0:
                continue
            part = min(left, payment.open_amount)
            entry = _move(each, payment, OnAccountEntryKind.PAYMENT, part,
                          "Invoice payment recorded" + (f" ({reference})" if reference else "")
                          + ".", actor=actor, reference=reference, note=note,
                          request_event=request_event, user=user, app=app)
            first = first or entry
            left -= part
        rest = open_total - wanted
        tx.timeline(order, f"Invoice payment recorded by {actor.label}: "
                           f"{_money(wanted, order.currency)}"
                           + (f", reference {reference}" if reference else "")
                           + f"; {_money(rest, order.currency)} still open on account.",
                    f"on-account-entry:{first.pk}")
        settled = mark_paid_if_settled(order.pk)
        audit.record(
            AuditKind.INVOICE_PAYMENT, actor,
            f"Invoice payment recorded: {_money(wanted, order.currency)}"
            + (f" ({reference})" if reference else "") + ".",
            order_id=order.pk, user_id=order.user_id,
            data={"amount": str(wanted), "currency": order.currency, "reference": reference,
                  "open_after": str(rest), "fully_paid": settled, "note": note},
        )
    return first


def _request_actor(request_event) -> Actor:
    if request_event.app_id:
        return Actor.for_app(request_event.app)
    if request_event.user_id:
        return Actor.for_user(request_event.user)
    return SYSTEM


def charge_requested(item: TransactionItem, request_event) -> None:
    """Saleor's own charge request on an on-account transaction (the Dashboard's
    capture, `transactionRequestAction(CHARGE)`, HANDLE_PAYMENTS): the invoice is paid
    by that amount."""
    if item.order_id is None:
        return _fail(request_event, TransactionEventType.CHARGE_FAILURE,
                     "Pay on account is charged when the order's invoice is paid.")
    try:
        record_payment(order_id=item.order_id, amount=request_event.amount_value,
                       actor=_request_actor(request_event), item=item,
                       request_event=request_event, user=request_event.user,
                       app=request_event.app)
    except StoreCreditError as exc:
        _fail(request_event, TransactionEventType.CHARGE_FAILURE, exc.message)


def cancel_requested(item: TransactionItem, request_event) -> None:
    """A cancel request (part of the authorization no longer owed: a credit note)."""
    with transaction.atomic():
        if item.checkout_id:
            checkout_qs_select_for_update().filter(pk=item.checkout_id).first()
        item = TransactionItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
        payment = _payments([item], lock=True).get(item.token)
        amount = request_event.amount_value
        if payment is None or payment.open_amount <= 0 or not 0 < amount <= payment.open_amount:
            return _fail(request_event, TransactionEventType.CANCEL_FAILURE,
                         "Cancel exceeds what is open on account.")
        _move(item, payment, OnAccountEntryKind.CANCELLED, amount,
              "Pay on account cancelled.", actor=_request_actor(request_event),
              request_event=request_event)
        if item.order_id:
            _record_change(item, payment, "cancelled", amount, request_event)


def refund_requested(item: TransactionItem, request_event) -> None:
    """A refund of what the customer paid on the invoice, never more than that."""
    with transaction.atomic():
        item = TransactionItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
        payment = _payments([item], lock=True).get(item.token)
        amount = request_event.amount_value
        paid = payment.paid_amount - payment.refunded_amount if payment else _ZERO
        if payment is None or not 0 < amount <= paid:
            return _fail(request_event, TransactionEventType.REFUND_FAILURE,
                         "Refund exceeds what was paid on account.")
        _move(item, payment, OnAccountEntryKind.REFUND, amount,
              "Invoice payment refunded.", actor=_request_actor(request_event),
              request_event=request_event)
        _record_change(item, payment, "refunded", amount, request_event)


def _record_change(item, payment, what: str, amount: Decimal, request_event) -> None:
    actor = _request_actor(request_event)
    tx.timeline(item.order_id, f"Pay on account {what} by {actor.label}: "
                               f"{_money(amount, item.currency)}.")
    audit.record(
        AuditKind.ON_ACCOUNT_CHANGED, actor,
        f"Pay on account {what}: {_money(amount, item.currency)}.",
        order_id=item.order_id, user_id=payment.user_id,
        data={"amount": str(amount), "what": what, "open_after": str(payment.open_amount),
              "paid": str(payment.paid_amount), "refunded": str(payment.refunded_amount)},
    )


def release_for_cancelled_order(order) -> Decimal:
    """A cancelled order owes nothing: its open authorizations are released."""
    if not order.total_authorized_amount:
        return _ZERO
    with transaction.atomic():
        items = _items(order_pk=order.pk, lock=True)
        released = _release(items, _payments(items, lock=True), "order cancelled")
    if released:
        tx.timeline(order, f"Pay on account released: {_money(released, order.currency)}.")
    return released


def follow_order(order, manager) -> Decimal:
    """Staff edited an unconfirmed order: an authorization larger than what the order
    needs after its other payments shrinks to it."""
    from saleor.order import OrderStatus

    from ..compat import refresh_order_prices
    from .order import still_needed

    if order.status != OrderStatus.UNCONFIRMED or not order.total_authorized_amount:
        return _ZERO
    if not TransactionItem.objects.filter(order_id=order.pk, app_identifier=ON_ACCOUNT_ID,
                                          authorized_value__gt=0).exists():
        return _ZERO
    refresh_order_prices(order, manager)
    cut_total = _ZERO
    with transaction.atomic():
        items = _items(order_pk=order.pk, lock=True)
        payments = _payments(items, lock=True)
        for item in items:
            payment = payments.get(item.token)
            if payment is None or payment.open_amount <= 0:
                continue
            needed = still_needed(order, item)
            if payment.open_amount > needed:
                cut = payment.open_amount - needed
                _move(item, payment, OnAccountEntryKind.CANCELLED, cut,
                      "Pay on account reduced: the order changed.", actor=SYSTEM)
                cut_total += cut
    if cut_total:
        tx.timeline(order, "Pay on account reduced after the order was edited: "
                           f"{_money(cut_total, order.currency)}.")
    return cut_total


# --- lapsed and orphaned checkout authorizations ---------------------------------------------


def expire(now=None, *, limit: int = 500) -> int:
    """Release authorizations of checkouts that were not completed in the hold
    lifetime or were deleted; attach those whose checkout became an order while the
    plugin was not listening."""
    now = now or timezone.now()
    lock_time = timedelta(seconds=getattr(django_settings, "CHECKOUT_COMPLETION_LOCK_TIME", 180))
    due = OnAccountPayment.objects.filter(open_amount__gt=0, order_id__isnull=True).filter(
        Q(expires_at__lte=now) | Q(checkout_token__isnull=False, transaction_token__in=(
            TransactionItem.objects.filter(app_identifier=ON_ACCOUNT_ID,
                                           checkout_id__isnull=True).values("token"))))
    released = 0
    for pk in list(due.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            payment = OnAccountPayment.objects.filter(pk=pk).first()
            seen = TransactionItem.objects.filter(token=payment.transaction_token).values(
                "checkout_id").first() if payment else None
            if seen is None:
                continue
            if seen["checkout_id"]:
                # Saleor's lock order: the checkout, then its transactions
                checkout_qs_select_for_update().filter(pk=seen["checkout_id"]).first()
            item = TransactionItem.objects.select_for_update(of=("self",)).get(
                token=payment.transaction_token)
            payment = OnAccountPayment.objects.select_for_update().get(pk=pk)
            if payment.open_amount <= 0 or payment.order_id:
                continue
            if item.order_id:
                OnAccountPayment.objects.filter(pk=pk).update(
                    order_id=item.order_id, expires_at=None, completing_at=None)
                continue
            if payment.completing_at and now - payment.completing_at < lock_time:
                continue
            reason = "the checkout was deleted" if item.checkout_id is None else (
                "the checkout was not completed in time")
            _move(item, payment, OnAccountEntryKind.CANCELLED, payment.open_amount,
                  f"Pay on account released: {reason}.", actor=SYSTEM)
            released += 1
    return released


# --- what storefronts are shown -------------------------------------------------------------


def summary(checkout, user, manager) -> dict:
    """Both entry points report: the credit available, what is authorized on account,
    what pay on account would take now, the terms and the due date they give."""
    from ..credit.terms import describe, due_date_for, terms_for

    currency = checkout.currency
    q = quantum(currency)
    profile = exp.profile_for(user.pk)
    credit, _subject = position(user, currency, profile=profile)
    resolved = terms_for(user_id=user.pk, group_id=profile.group_id if profile else None,
                         channel_slug=checkout.channel.slug)
    authorized = authorized_on(checkout.pk)
    amount = remaining_for(checkout, manager)
    due = None
    if resolved is not None:
        due = due_date_for(resolved.terms.basis, resolved.terms.days, timezone.now())
    return {
        "currency": currency,
        "eligible": credit.eligible,
        "availableCredit": None if credit.available is None else str(
            max(credit.available, _ZERO).quantize(q)),
        "authorized": str(authorized.quantize(q)) if authorized else None,
        "amount": str(amount),
        "fits": credit.eligible and (credit.available is None
                                     or amount <= credit.available + authorized),
        "terms": None if resolved is None else {
            "name": resolved.terms.name,
            "description": describe(resolved.terms.basis, resolved.terms.days),
            "dueDate": due.isoformat() if due else None,
        },
    }
