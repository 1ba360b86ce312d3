"""Issue 14.6: the plugin is deactivated while holds exist. Orders confirmed or
cancelled meanwhile are settled by the hold sweeper (every few minutes, and at once
when the plugin is switched back on); what it cannot settle is reported."""

from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from saleor.order import OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.plugins.models import PluginConfiguration  # noqa: E402

from saleor_store_credit.models import Account, Hold, HoldStatus, WebhookDelivery  # noqa: E402
from saleor_store_credit.plugin import PLUGIN_ID  # noqa: E402
from saleor_store_credit.tasks import release_abandoned_store_credit_holds_task  # noqa: E402

from .support import (  # noqa: E402
    ORDER_CANCEL,
    ORDER_CONFIRM,
    assert_money_consistent,
    data,
    gid,
    our_item,
)
from .test_checkout import APPLY, COMPLETE, checkout_total, fund, grant  # noqa: E402

PLUGIN_UPDATE = """
mutation ($active: Boolean!) { pluginUpdate(id: "saleor-store-credit", input: {active: $active}) {
  plugin { id } errors { field code message } } }
"""


@pytest.fixture
def store_credit_config():
    return {"webhook_target_urls": "https://hooks.example.com/store-credit",
            "webhook_secret": "s3cret"}


@pytest.fixture
def unconfirmed(sc_client, shopper_checkout, customer_user, user_api_client):
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
    return order, total


@pytest.fixture
def staff(staff_api_client, permission_manage_orders, permission_manage_plugins):
    grant(staff_api_client.user, permission_manage_orders, permission_manage_plugins)
    return staff_api_client


def _switch(staff, active):
    content = data(staff.post_graphql(PLUGIN_UPDATE, {"active": active}))
    assert content["pluginUpdate"]["errors"] == []
    assert PluginConfiguration.objects.get(identifier=PLUGIN_ID).active is active


def test_an_order_confirmed_while_the_plugin_was_off_is_charged_on_reactivation(
    unconfirmed, staff, customer_user
):
    order, total = unconfirmed
    _switch(staff, False)
    assert data(staff.post_graphql(ORDER_CONFIRM, {"id": gid("Order", order.pk)}))[
        "orderConfirm"]["errors"] == []
    assert Hold.objects.get().status == HoldStatus.ACTIVE  # nobody charged it

    _switch(staff, True)  # activation settles what happened meanwhile

    assert Hold.objects.get().status == HoldStatus.CAPTURED
    assert our_item().charged_value == total
    account = Account.objects.get(user=customer_user)
    assert (account.balance, account.held) == (Decimal("1000.00") - total, Decimal(0))
    assert_money_consistent()


def test_an_order_cancelled_while_the_plugin_was_off_is_released_by_the_sweeper(
    unconfirmed, staff, customer_user
):
    order, _total = unconfirmed
    PluginConfiguration.objects.filter(identifier=PLUGIN_ID).update(active=False)
    assert data(staff.post_graphql(ORDER_CANCEL, {"id": gid("Order", order.pk)}))[
        "orderCancel"]["errors"] == []
    PluginConfiguration.objects.filter(identifier=PLUGIN_ID).update(active=True)

    release_abandoned_store_credit_holds_task.delay().get()

    assert Hold.objects.get().status == HoldStatus.RELEASED
    assert our_item().authorized_value == 0
    account = Account.objects.get(user=customer_user)
    assert (account.balance, account.held) == (Decimal("1000.00"), Decimal(0))
    assert_money_consistent()


def test_the_sweeper_leaves_holds_of_unconfirmed_orders_alone(unconfirmed):
    release_abandoned_store_credit_holds_task.delay().get()

    assert Hold.objects.get().status == HoldStatus.ACTIVE
    assert_money_consistent()


def test_a_hold_whose_payment_vanished_is_released_and_reported(
    unconfirmed, staff, customer_user
):
    order, _total = unconfirmed
    # e.g. the transaction row was removed by a data clean-up while the plugin was off
    from saleor.payment.models import TransactionEvent, TransactionItem

    item = our_item()
    TransactionEvent.objects.filter(transaction=item).delete()
    TransactionItem.objects.filter(pk=item.pk).delete()

    release_abandoned_store_credit_holds_task.delay().get()

    assert Hold.objects.get().status == HoldStatus.RELEASED
    reports = WebhookDelivery.objects.filter(event="store_credit.hold_unresolved")
    assert reports.count() == 1
    assert reports.get().payload["data"]["order_id"] == str(order.pk)
    assert Account.objects.get(user=customer_user).held == 0


def test_the_plugin_description_says_what_deactivation_does(store_credit_plugin, staff):
    content = staff.post_graphql('{ plugin(id: "saleor-store-credit") { description } }')
    assert "deactivat" in data(content)["plugin"]["description"].lower(), content.json()
