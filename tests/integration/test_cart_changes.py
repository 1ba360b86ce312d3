"""Issue 14.1: the cart (or an unconfirmed order) changes after store credit is
applied. Never charge more than the order still needs; Saleor's transaction and the
ledger agree at every step."""

from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from saleor.order import OrderChargeStatus, OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402

from saleor_store_credit.models import Account, Entry, Hold, HoldStatus  # noqa: E402

from .support import (  # noqa: E402
    ADD_PROMO_CODE,
    LINES_ADD,
    LINES_DELETE,
    LINES_UPDATE,
    ORDER_CONFIRM,
    ORDER_LINE_UPDATE,
    ORDER_TOTAL,
    TRANSACTION_CREATE,
    assert_money_consistent,
    data,
    gid,
    our_item,
    payment_app_client,
)
from .test_checkout import APPLIED, APPLY, COMPLETE, checkout_total, fund, grant  # noqa: E402


def _applied(shopper, checkout):
    view = shopper.query(APPLIED, {"id": gid("Checkout", checkout.pk)})
    applied = view["data"]["checkoutStoreCredit"]["applied"]
    return Decimal(str(applied["amount"])) if applied else Decimal(0)


def _shrink(user_api_client, checkout, quantity=1):
    line = checkout.lines.get()
    content = data(user_api_client.post_graphql(LINES_UPDATE, {
        "id": gid("Checkout", checkout.pk),
        "lines": [{"lineId": gid("CheckoutLine", line.pk), "quantity": quantity}],
    }))["checkoutLinesUpdate"]
    assert content["errors"] == []
    return Decimal(str(content["checkout"]["totalPrice"]["gross"]["amount"]))


def test_removing_items_after_applying_credit_charges_only_the_new_total(
    sc_client, shopper_checkout, customer_user, user_api_client
):
    # given all of a big balance applied to the cart
    account = fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    before = checkout_total(shopper_checkout)
    shopper.query(APPLY, {"id": checkout_gid})

    # when the shopper takes items out of the cart and places the order
    after = _shrink(user_api_client, shopper_checkout)
    assert after < before
    applied = _applied(shopper, shopper_checkout)
    assert_money_consistent()
    completed = data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    # then the shown applied amount followed the cart, and only the new total is charged
    assert applied == after
    assert completed["checkoutComplete"]["errors"] == []
    order = Order.objects.get()
    assert order.total_gross_amount == after
    assert order.charge_status == OrderChargeStatus.FULL
    item = our_item()
    assert item.charged_value == after and item.authorized_value == 0
    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("1000.00") - after, Decimal(0))
    assert_money_consistent()


def test_a_voucher_after_applying_credit_lowers_what_is_charged(
    sc_client, shopper_checkout, customer_user, user_api_client, voucher
):
    account = fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    before = checkout_total(shopper_checkout)
    shopper.query(APPLY, {"id": checkout_gid})

    promo = data(user_api_client.post_graphql(
        ADD_PROMO_CODE, {"id": checkout_gid, "code": voucher.codes.first().code}))
    assert promo["checkoutAddPromoCode"]["errors"] == []
    after = Decimal(str(promo["checkoutAddPromoCode"]["checkout"]["totalPrice"]["gross"]["amount"]))
    assert after < before
    data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    order = Order.objects.get()
    assert order.charge_status == OrderChargeStatus.FULL
    assert our_item().charged_value == order.total_gross_amount == after
    account.refresh_from_db()
    assert account.balance == Decimal("1000.00") - after
    assert_money_consistent()


def test_when_another_payment_already_covers_the_smaller_cart_no_credit_is_charged(
    sc_client, shopper_checkout, customer_user, user_api_client,
    permission_manage_payments,
):
    # given 10 of store credit and a card authorization for the rest
    account = fund(customer_user, "10.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    total = checkout_total(shopper_checkout)
    shopper.query(APPLY, {"id": checkout_gid})
    card = data(payment_app_client(permission_manage_payments).post_graphql(TRANSACTION_CREATE, {
        "id": checkout_gid, "amount": str(total - Decimal("10.00")), "psp": "card-1"}))
    assert card["transactionCreate"]["errors"] == []

    # when the cart shrinks below what the card covers
    after = _shrink(user_api_client, shopper_checkout)
    assert after <= total - Decimal("10.00")
    completed = data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    # then the store credit is released, not charged
    assert completed["checkoutComplete"]["errors"] == []
    item = our_item()
    assert item.charged_value == 0 and item.authorized_value == 0
    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("10.00"), Decimal(0))
    assert not Entry.objects.filter(kind="payment").exists()
    assert_money_consistent()


def test_applied_credit_follows_the_cart_down_and_back_up(
    sc_client, shopper_checkout, customer_user, user_api_client
):
    fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    full = checkout_total(shopper_checkout)
    shopper.query(APPLY, {"id": checkout_gid})

    smaller = _shrink(user_api_client, shopper_checkout, quantity=1)
    assert _applied(shopper, shopper_checkout) == smaller
    assert_money_consistent()
    grown = _shrink(user_api_client, shopper_checkout, quantity=3)

    assert grown == full
    assert _applied(shopper, shopper_checkout) == full
    assert Hold.objects.filter(status=HoldStatus.ACTIVE).get().amount == full
    assert_money_consistent()
    completed = data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    assert completed["checkoutComplete"]["errors"] == []
    assert our_item().charged_value == full
    assert_money_consistent()


def test_a_chosen_amount_is_kept_when_the_cart_still_needs_it(
    sc_client, shopper_checkout, customer_user, user_api_client
):
    fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid, "amount": "5.00"})

    _shrink(user_api_client, shopper_checkout, quantity=2)

    assert _applied(shopper, shopper_checkout) == Decimal("5.00")
    assert_money_consistent()


def test_emptying_the_cart_releases_the_credit(
    sc_client, shopper_checkout, customer_user, user_api_client, product
):
    account = fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    line = shopper_checkout.lines.get()

    data(user_api_client.post_graphql(LINES_DELETE, {
        "id": checkout_gid, "ids": [gid("CheckoutLine", line.pk)]}))

    assert _applied(shopper, shopper_checkout) == 0
    account.refresh_from_db()
    assert account.held == 0
    assert our_item().authorized_value == 0
    assert_money_consistent()
    # adding something again does not silently re-reserve the released credit
    data(user_api_client.post_graphql(LINES_ADD, {"id": checkout_gid, "lines": [
        {"variantId": gid("ProductVariant", product.variants.first().pk), "quantity": 1}]}))
    assert_money_consistent()


def test_an_unconfirmed_order_edited_down_by_staff_is_charged_its_new_total(
    sc_client, shopper_checkout, customer_user, user_api_client, staff_api_client,
    permission_manage_orders,
):
    # given an order held for confirmation, paid by store credit
    channel = shopper_checkout.channel
    channel.automatically_confirm_all_new_orders = False
    channel.save(update_fields=["automatically_confirm_all_new_orders"])
    account = fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    order = Order.objects.get()
    assert order.status == OrderStatus.UNCONFIRMED
    grant(staff_api_client.user, permission_manage_orders)

    # when staff take items out before confirming (the Dashboard reads the new total)
    line = order.lines.get()
    edited = data(staff_api_client.post_graphql(
        ORDER_LINE_UPDATE, {"id": gid("OrderLine", line.pk), "quantity": 1}))
    assert edited["orderLineUpdate"]["errors"] == []
    new_total = Decimal(str(data(staff_api_client.post_graphql(
        ORDER_TOTAL, {"id": gid("Order", order.pk)}))["order"]["total"]["gross"]["amount"]))
    assert_money_consistent()
    confirmed = data(staff_api_client.post_graphql(ORDER_CONFIRM, {"id": gid("Order", order.pk)}))

    # then only the new total is charged and the rest is back on the balance
    assert confirmed["orderConfirm"]["errors"] == []
    order.refresh_from_db()
    assert order.charge_status == OrderChargeStatus.FULL
    assert our_item().charged_value == new_total
    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("1000.00") - new_total, Decimal(0))
    assert Account.objects.count() == 1
    assert_money_consistent()
