"""Issue 14.2: staff charge or cancel part of a store-credit authorization
(`transactionRequestAction` with an amount). The hold always equals Saleor's
authorized amount; partial charges repeat until the authorization is used up."""

from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from saleor.order import OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402

from saleor_store_credit.models import Account, Entry  # noqa: E402

from .support import (  # noqa: E402
    ORDER_CONFIRM,
    REQUEST_ACTION,
    assert_money_consistent,
    data,
    gid,
    ledger_view,
    our_item,
)
from .test_checkout import APPLY, COMPLETE, checkout_total, fund, grant  # noqa: E402


@pytest.fixture
def held_order(sc_client, shopper_checkout, customer_user, user_api_client):
    """An UNCONFIRMED order whose store credit is still only authorized."""
    channel = shopper_checkout.channel
    channel.automatically_confirm_all_new_orders = False
    channel.save(update_fields=["automatically_confirm_all_new_orders"])
    fund(customer_user, "1000.00")
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    total = checkout_total(shopper_checkout)
    sc_client(user=customer_user).query(APPLY, {"id": checkout_gid})
    data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    order = Order.objects.get()
    assert order.status == OrderStatus.UNCONFIRMED
    assert our_item().authorized_value == total
    return order, total


@pytest.fixture
def payments_staff(staff_api_client, permission_manage_payments, permission_manage_orders):
    grant(staff_api_client.user, permission_manage_payments, permission_manage_orders)
    return staff_api_client


def _request(client, action, amount=None):
    variables = {"id": gid("TransactionItem", our_item().token), "type": action}
    if amount is not None:
        variables["amount"] = str(amount)
    return data(client.post_graphql(REQUEST_ACTION, variables))["transactionRequestAction"]


def test_repeated_partial_charges_work_until_the_authorization_is_used_up(
    held_order, payments_staff, customer_user
):
    order, total = held_order
    first = Decimal("10.00")

    charged = _request(payments_staff, "CHARGE", first)
    assert charged["errors"] == []
    item = our_item()
    assert (item.authorized_value, item.charged_value) == (total - first, first)
    assert_money_consistent()

    rest = _request(payments_staff, "CHARGE", total - first)
    assert rest["errors"] == []
    item = our_item()
    assert (item.authorized_value, item.charged_value) == (Decimal(0), total)
    account = Account.objects.get(user=customer_user)
    assert (account.balance, account.held) == (Decimal("1000.00") - total, Decimal(0))
    assert Entry.objects.filter(kind="payment").count() == 2
    assert_money_consistent()

    # nothing is left to charge
    again = _request(payments_staff, "CHARGE", Decimal("1.00"))
    assert our_item().charged_value == total
    assert again["errors"] or again["transaction"]["chargedAmount"]["amount"] == float(total)
    assert_money_consistent()


def test_a_partial_cancel_releases_exactly_that_amount(held_order, payments_staff, customer_user):
    order, total = held_order
    part = Decimal("4.00")

    cancelled = _request(payments_staff, "CANCEL", part)

    assert cancelled["errors"] == []
    item = our_item()
    assert item.authorized_value == total - part
    assert ledger_view(item)["authorized"] == total - part
    account = Account.objects.get(user=customer_user)
    assert account.held == total - part
    assert_money_consistent()


def test_after_a_partial_cancel_confirming_charges_the_rest_still_authorized(
    held_order, payments_staff, customer_user
):
    order, total = held_order
    _request(payments_staff, "CANCEL", Decimal("4.00"))

    confirmed = data(payments_staff.post_graphql(ORDER_CONFIRM, {"id": gid("Order", order.pk)}))

    assert confirmed["orderConfirm"]["errors"] == []
    item = our_item()
    assert (item.authorized_value, item.charged_value) == (Decimal(0), total - Decimal("4.00"))
    account = Account.objects.get(user=customer_user)
    assert account.balance == Decimal("1000.00") - total + Decimal("4.00")
    assert_money_consistent()


def test_a_partial_charge_then_confirm_charges_only_what_the_order_still_needs(
    held_order, payments_staff
):
    order, total = held_order
    _request(payments_staff, "CHARGE", Decimal("10.00"))

    data(payments_staff.post_graphql(ORDER_CONFIRM, {"id": gid("Order", order.pk)}))

    item = our_item()
    assert (item.authorized_value, item.charged_value) == (Decimal(0), total)
    assert_money_consistent()


def test_a_charge_larger_than_the_authorization_charges_at_most_the_authorization(
    held_order, payments_staff
):
    order, total = held_order

    _request(payments_staff, "CHARGE", total + Decimal("50.00"))

    item = our_item()
    assert item.charged_value == total and item.authorized_value == 0
    assert_money_consistent()


def test_a_full_cancel_then_a_charge_charges_nothing(held_order, payments_staff, customer_user):
    order, total = held_order

    _request(payments_staff, "CANCEL")
    _request(payments_staff, "CHARGE", Decimal("1.00"))

    item = our_item()
    assert (item.authorized_value, item.charged_value) == (Decimal(0), Decimal(0))
    account = Account.objects.get(user=customer_user)
    assert (account.balance, account.held) == (Decimal("1000.00"), Decimal(0))
    assert_money_consistent()
