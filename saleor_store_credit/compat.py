"""The one place that knows how Saleor's internals differ between the supported
versions. Everything version-dependent the plugin calls goes through here.

Supported: Saleor 3.21.x, 3.22.x, 3.23.x and main (3.24). Differences are detected
by what Saleor has (a module, a function, a parameter, a model field), not by
comparing version numbers; the version number only decides whether the plugin may
be switched on (`unsupported_saleor_reason`).

What differs (checked in Saleor's code at tags 3.21.69, 3.22.67, 3.23.28 and main):
- `giftcard/const.py`, `giftcard/lock_objects.py` and
  `giftcard/events.gift_card_balance_adjusted_event` exist from 3.23; before, a
  balance change is recorded as BALANCE_RESET (`gift_card_balance_reset_event`).
- `GiftCard.usage_restriction_reason` exists from 3.23.28.
- `create_transaction_event_requested` is a module function of
  `graphql/payment/mutations/transaction/utils.py` from 3.23; before, a classmethod of
  `TransactionRequestAction` without `app_identifier`/`related_granted_refund`.
- `calculate_checkout_total_with_gift_cards` takes an `address` before 3.23;
  `cancel_order` takes `site_settings` from 3.23; `fetch_order_prices_if_expired`
  takes a `requestor` and returns a Promise from 3.23.
- Saleor's transaction-event helpers accept `app=None` from 3.23; before, answering
  a request (`create_transaction_event_from_request_and_webhook_response`) reads
  `app.identifier` for every authorization/charge of a customer's checkout/order.
- `TransactionItem.payment_method_type/name` exist from 3.22.
- Gift cards are transactions (`TransactionItem` with the gift card gateway id) from
  3.23; before, Saleor takes gift cards off the order total at checkout completion
  (`order/utils.py` `add_gift_cards_to_order`) and records nothing as charged.
- App extensions with target WIDGET (mounts `CUSTOMER_DETAILS_WIDGETS`,
  `ORDER_DETAILS_WIDGETS`, `options.widgetTarget`) exist from 3.22; 3.21's manifest
  validation knows only POPUP and APP_PAGE and refuses any other target
  (`app/types.py` `AppExtensionTarget`, `app/manifest_validations.py`).
"""

import inspect
import re
from decimal import Decimal
from functools import cache
from types import SimpleNamespace

# The range the plugin supports, as an npm range (what the App manifest's
# `requiredSaleorVersion` takes, saleor/app/manifest_validations.py).
REQUIRED_SALEOR_VERSION = ">=3.21 <3.25"
OLDEST_SUPPORTED = (3, 21)
NEWEST_SUPPORTED = (3, 24)  # main

# saleor/giftcard/const.py (3.23+); the value is the same string everywhere.
GIFT_CARD_PAYMENT_GATEWAY_ID = "saleor.io.gift-card-payment-gateway"


def saleor_version() -> str:
    import saleor

    return saleor.__version__


def _major_minor(version: str) -> tuple[int, int] | None:
    match = re.match(r"^(\d+)\.(\d+)(\.\d+)?([-.+]|$)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def saleor_series(version: str | None = None) -> tuple[int, int] | None:
    """(major, minor) of Saleor `version` (default: the installed one)."""
    return _major_minor(saleor_version() if version is None else version)


def unsupported_saleor_reason(version: str | None = None) -> str | None:
    """Why the plugin cannot run on Saleor `version` (default: the installed one), or
    None when it is supported."""
    version = saleor_version() if version is None else version
    series = _major_minor(version)
    if series is not None and OLDEST_SUPPORTED <= series <= NEWEST_SUPPORTED:
        return None
    return (
        f"Saleor {version} is not supported by saleor-store-credit: it supports "
        f"Saleor 3.21.x, 3.22.x, 3.23.x and 3.24 (main), {REQUIRED_SALEOR_VERSION}. "
        "See the README, 'Supported Saleor versions'."
    )


# --- gift cards ---------------------------------------------------------------------


def gift_card_qs_select_for_update():
    """Gift cards locked in primary-key order (saleor/giftcard/lock_objects.py, 3.23+;
    mirrored before)."""
    try:
        from saleor.giftcard.lock_objects import gift_card_qs_select_for_update as lock
    except ImportError:
        from saleor.giftcard.models import GiftCard

        return GiftCard.objects.order_by("pk").select_for_update(of=["self"])
    return lock()


def gift_card_balance_adjusted_event(card, old_current, old_initial, user, app):
    """Saleor's gift card event for a balance change: BALANCE_ADJUSTED from 3.23;
    before, BALANCE_RESET as `giftCardUpdate` records one
    (saleor/giftcard/events.py `gift_card_balance_reset_event`)."""
    from saleor.giftcard import events

    if hasattr(events, "gift_card_balance_adjusted_event"):
        return events.gift_card_balance_adjusted_event(
            card, old_current, old_initial, user, app
        )
    old_card = SimpleNamespace(
        initial_balance_amount=old_initial, current_balance_amount=old_current
    )
    return events.gift_card_balance_reset_event(card, old_card, user, app)


def gift_card_balance_event_type() -> str:
    """The GiftCardEvents type `gift_card_balance_adjusted_event` records."""
    from saleor.giftcard import GiftCardEvents

    return getattr(GiftCardEvents, "BALANCE_ADJUSTED", GiftCardEvents.BALANCE_RESET)


def gift_card_usage_restriction_reason(card, user_id) -> str | None:
    """Why a customer-restricted card cannot be used by `user_id`, or None.
    `GiftCard.usage_restriction_reason` from 3.23.28; in earlier 3.23 patches that
    have `assigned_to` (from "Improved Gift Card APIs", #19442), the same rule,
    mirrored from saleor/giftcard/models.py (3.23.28). Before 3.23 a gift card has
    no assigned customer: nothing restricts it."""
    if hasattr(card, "usage_restriction_reason"):
        return card.usage_restriction_reason(user_id)
    assigned_to_id = getattr(card, "assigned_to_id", None)
    if getattr(card, "assigned_to_email", None) and not assigned_to_id:
        return "restricted to a deleted customer"
    if assigned_to_id and assigned_to_id != user_id:
        return "restricted to another customer"
    return None


def gift_cards_are_transactions() -> bool:
    """From 3.23 a gift card pays a checkout as a TransactionItem (saleor/giftcard/
    gateway.py, `TransactionItem.gift_card`); before, it is taken off the order total."""
    from saleor.payment.models import TransactionItem

    return _has_field(TransactionItem, "gift_card")


def gift_card_authorized_in_a_transaction(card) -> bool:
    """Whether the card holds an authorization of Saleor's gift card gateway (a
    checkout paying with it, 3.23+). Before 3.23 gift cards are no transactions; a
    card in use sits on `Checkout.gift_cards`, which callers check on every version."""
    if not gift_cards_are_transactions():
        return False
    from saleor.payment.models import TransactionItem

    return TransactionItem.objects.filter(
        gift_card=card, app_identifier=GIFT_CARD_PAYMENT_GATEWAY_ID,
        authorized_value__gt=0,
    ).exists()


# --- the App manifest ----------------------------------------------------------------


def dashboard_widgets_supported() -> bool:
    """Whether Saleor installs WIDGET extensions on the customer and order detail
    pages. Up to 3.22 targets and mounts are enums in saleor/app/types.py (3.21 has
    no WIDGET, 3.22 has it and the `*_DETAILS_WIDGETS` mounts); from 3.23 they are
    free strings (saleor/app/manifest_schema.py) and the enums are gone."""
    try:
        from saleor.app.types import AppExtensionMount, AppExtensionTarget
    except ImportError:
        return True
    return (
        hasattr(AppExtensionTarget, "WIDGET")
        and hasattr(AppExtensionMount, "CUSTOMER_DETAILS_WIDGETS")
        and hasattr(AppExtensionMount, "ORDER_DETAILS_WIDGETS")
    )


# --- checkout and order calculations ------------------------------------------------


def checkout_total_with_gift_cards(manager, checkout_info, lines):
    """Saleor's checkout total less gift cards (TaxedMoney). Before 3.23 it takes the
    address, which Saleor's own completion passes as shipping or billing address
    (saleor/checkout/complete_checkout.py, 3.22)."""
    from saleor.checkout.calculations import calculate_checkout_total_with_gift_cards

    if _has_parameter(calculate_checkout_total_with_gift_cards, "address"):
        address = checkout_info.shipping_address or checkout_info.billing_address
        return calculate_checkout_total_with_gift_cards(
            manager, checkout_info, lines, address
        )
    return calculate_checkout_total_with_gift_cards(manager, checkout_info, lines)


def cancel_order(order, user, app, manager) -> None:
    """Saleor's `order.actions.cancel_order` (site settings passed from 3.23)."""
    from saleor.order.actions import cancel_order as saleor_cancel_order

    if _has_parameter(saleor_cancel_order, "site_settings"):
        from saleor.site.models import Site

        saleor_cancel_order(order, user, app, manager, Site.objects.get_current().settings)
    else:
        saleor_cancel_order(order, user, app, manager)


def refresh_order_prices(order, manager) -> None:
    """Recalculate an editable order's prices if Saleor marked them stale (in place).
    Saleor defers repricing after edits (`should_refresh_prices`). From 3.23 the
    function takes the requestor and returns a Promise."""
    from saleor.order.calculations import fetch_order_prices_if_expired

    if _has_parameter(fetch_order_prices_if_expired, "requestor"):
        fetch_order_prices_if_expired(order, manager, None).get()
    else:
        fetch_order_prices_if_expired(order, manager)


# --- transactions --------------------------------------------------------------------


def transaction_item_method_fields(payment_method_type: str, name: str) -> dict:
    """`TransactionItem.payment_method_type/name`, which exist from 3.22."""
    from saleor.payment.models import TransactionItem

    if _has_field(TransactionItem, "payment_method_type"):
        return {"payment_method_type": payment_method_type, "payment_method_name": name}
    return {}


def transaction_payment_method_values(item) -> tuple:
    """(type, name) of a TransactionItem's payment method; empty before 3.22."""
    return (
        getattr(item, "payment_method_type", None) or "",
        getattr(item, "payment_method_name", None) or "",
    )


def create_transaction_event_requested(
    item, amount: Decimal, action, *, user=None, app=None, app_identifier=None,
    related_granted_refund=None,
):
    """Saleor's request event (CANCEL_/CHARGE_/REFUND_REQUEST) on `item`. A module
    function from 3.23; before, the same event as `TransactionRequestAction.
    create_transaction_event_requested` makes it, with the gateway's identifier
    (mirrored from saleor/graphql/payment/mutations/transaction/utils.py, 3.23)."""
    try:
        from saleor.graphql.payment.mutations.transaction.utils import (
            create_transaction_event_requested as saleor_request,
        )
    except ImportError:
        saleor_request = None
    if saleor_request is not None:
        return saleor_request(
            item, amount, action, user=user, app=app, app_identifier=app_identifier,
            related_granted_refund=related_granted_refund,
        )
    import uuid

    from saleor.payment import TransactionAction, TransactionEventType

    event_type = {
        TransactionAction.CANCEL: TransactionEventType.CANCEL_REQUEST,
        TransactionAction.CHARGE: TransactionEventType.CHARGE_REQUEST,
        TransactionAction.REFUND: TransactionEventType.REFUND_REQUEST,
    }[action]
    return item.events.create(
        amount_value=amount, currency=item.currency, type=event_type, user=user,
        app=app, app_identifier=app_identifier or (app.identifier if app else None),
        idempotency_key=str(uuid.uuid4()), related_granted_refund=related_granted_refund,
    )


def create_transaction_event_from_request_and_webhook_response(
    request_event, transaction_webhook_response: dict
):
    """Answer a request event the way a payment app's webhook response does, with no
    App (the plugin is the gateway, SPEC 3)."""
    from saleor.payment.utils import (
        create_transaction_event_from_request_and_webhook_response as saleor_answer,
    )

    if _accepts_no_app(saleor_answer):
        return saleor_answer(
            request_event, None, transaction_webhook_response=transaction_webhook_response
        )
    # Before 3.23 (saleor/payment/utils.py, 3.21 and 3.22) the helper's last
    # statement is `invalidate_cache_for_stored_payment_methods_if_needed(event,
    # source_object, app.identifier)`: with no App it raises AttributeError after
    # every other step (event, amounts, order/checkout statuses, order events,
    # webhooks) is done. That step clears the stored payment methods Saleor cached
    # for the answering App; the plugin is no App and stores none, so there is
    # nothing to clear. Only that exact failure is absorbed; anything else raises.
    try:
        return saleor_answer(
            request_event, None, transaction_webhook_response=transaction_webhook_response
        )
    except AttributeError as error:
        if not _is_final_app_identifier_lookup(error, saleor_answer):
            raise
    from saleor.payment.models import TransactionEvent

    return (
        TransactionEvent.objects.filter(
            transaction_id=request_event.transaction_id,
            psp_reference=transaction_webhook_response.get("pspReference"),
        )
        .exclude(pk=request_event.pk)
        .order_by("-pk")
        .first()
    )


def _is_final_app_identifier_lookup(error: AttributeError, function) -> bool:
    if error.name != "identifier" or error.obj is not None:
        return False
    frame = error.__traceback__
    while frame.tb_next is not None:
        frame = frame.tb_next
    return frame.tb_frame.f_code is function.__code__


def create_transaction_event_for_transaction_session(
    request_event, manager, transaction_webhook_response: dict
):
    """Saleor's session helper (recalculates amounts and checkout/order statuses)
    with no App. Before 3.23 it only dereferences the App when it logs a duplicate
    event (`deduplicate_event`), which the plugin's unique psp references never are."""
    from saleor.payment.utils import create_transaction_event_for_transaction_session

    return create_transaction_event_for_transaction_session(
        request_event, None, manager,
        transaction_webhook_response=transaction_webhook_response,
    )


@cache
def _accepts_no_app(function) -> bool:
    """From 3.23 Saleor's transaction helpers annotate `app: App | None`."""
    annotation = inspect.signature(function).parameters["app"].annotation
    return "None" in str(annotation)


def _has_parameter(function, name: str) -> bool:
    return name in inspect.signature(function).parameters


def _has_field(model, name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:
        return False
    return True
