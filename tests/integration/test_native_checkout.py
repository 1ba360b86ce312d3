"""Store credit through Saleor's own checkout API (issue 18): `paymentGatewayInitialize`
lists it, `transactionInitialize` with the gateway id `saleor-store-credit` applies,
changes and removes it, and the plugin endpoint's apply/remove leave the same state."""

from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.db.models import Sum  # noqa: E402

from saleor.checkout import CheckoutAuthorizeStatus  # noqa: E402
from saleor.order import OrderChargeStatus, OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.payment import TransactionEventType  # noqa: E402
from saleor.payment.models import TransactionEvent, TransactionItem  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402
from saleor.plugins.models import PluginConfiguration  # noqa: E402

from saleor_store_credit import checkout as payments  # noqa: E402
from saleor_store_credit.ledger import Actor, credit, get_or_create_account  # noqa: E402
from saleor_store_credit.models import Account, Entry, Hold, HoldStatus  # noqa: E402

from .support import (  # noqa: E402
    REQUEST_ACTION,
    TRANSACTION_CREATE,
    assert_money_consistent,
    data,
    gid,
    payment_app_client,
)

FAILURES = [
    TransactionEventType.AUTHORIZATION_FAILURE, TransactionEventType.CHARGE_FAILURE,
    TransactionEventType.CANCEL_FAILURE, TransactionEventType.REFUND_FAILURE,
]
INITIALIZE = """
mutation ($id: ID!, $data: JSON) {
  transactionInitialize(id: $id, paymentGateway: {id: "saleor-store-credit", data: $data}) {
    transaction { id authorizedAmount { amount } }
    transactionEvent { type message }
    data
    errors { field code message }
  }
}
"""
GATEWAYS = """
mutation ($id: ID!) { paymentGatewayInitialize(id: $id) {
  gatewayConfigs { id data errors { code message } } errors { code } } }
"""
COMPLETE = """
mutation ($id: ID) { checkoutComplete(id: $id) {
  order { id status chargeStatus } errors { field code message } } }
"""
APPLY = """
mutation ($id: ID!, $amount: Decimal) {
  checkoutStoreCreditApply(checkoutId: $id, amount: $amount) {
    checkoutStoreCredit { applied { amount } leftToPay { amount } }
    errors { field code message } } }
"""
REMOVE = """
mutation ($id: ID!) { checkoutStoreCreditRemove(checkoutId: $id) {
  checkoutStoreCredit { applied { amount } } errors { field code message } } }
"""
ORDER_CANCEL = "mutation ($id: ID!) { orderCancel(id: $id) { errors { field code message } } }"


def fund(user, amount, currency="USD"):
    account = get_or_create_account(user=user, currency=currency)
    credit(account=account, amount=amount, kind="adjustment", actor=Actor.system())
    return account


def total_of(checkout):
    return payments.left_to_pay(checkout, get_plugins_manager(allow_replica=False))


@pytest.fixture
def companion_app(db):
    """The companion App as the merchant installs it from the plugin's manifest:
    a real, active App with the gateway's identifier."""
    from saleor.app.models import App

    return App.objects.create(
        name="Store credit", identifier=payments.GATEWAY_ID, is_active=True
    )


def initialize(client, checkout, data_=None):
    response = client.post_graphql(
        INITIALIZE, {"id": gid("Checkout", checkout.pk), "data": data_})
    return data(response)["transactionInitialize"]


def no_failure_events():
    return not TransactionEvent.objects.filter(
        transaction__app_identifier=payments.GATEWAY_ID, type__in=FAILURES).exists()


def active_holds():
    return Hold.objects.filter(status=HoldStatus.ACTIVE)


# --- item 1: transactionInitialize applies store credit -----------------------------------


def test_transaction_initialize_full_coverage_completes_the_checkout(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    # given
    account = fund(customer_user, "1000.00")
    total = total_of(shopper_checkout)

    # when
    result = initialize(user_api_client, shopper_checkout)
    completed = data(user_api_client.post_graphql(
        COMPLETE, {"id": gid("Checkout", shopper_checkout.pk)}))["checkoutComplete"]

    # then
    assert result["errors"] == []
    assert result["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    assert Decimal(str(result["transaction"]["authorizedAmount"]["amount"])) == total
    assert result["data"]["applied"] == str(total)
    assert result["data"]["leftToPay"] == "0.00"
    assert completed["errors"] == []
    order = Order.objects.get()
    assert order.charge_status == OrderChargeStatus.FULL
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    assert item.app_id == companion_app.pk and item.charged_value == total
    assert item.name == payments.PAYMENT_METHOD_NAME
    account.refresh_from_db()
    assert account.balance == Decimal("1000.00") - total and account.held == 0
    assert Hold.objects.get().status == HoldStatus.CAPTURED
    assert no_failure_events()
    assert_money_consistent()


def test_transaction_initialize_partial_coverage_rest_paid_by_a_card_app(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client,
    permission_manage_payments,
):
    # given
    fund(customer_user, "10.00")
    total = total_of(shopper_checkout)
    card = payment_app_client(permission_manage_payments)

    # when
    result = initialize(user_api_client, shopper_checkout)
    refused = data(user_api_client.post_graphql(
        COMPLETE, {"id": gid("Checkout", shopper_checkout.pk)}))["checkoutComplete"]
    rest = Decimal(result["data"]["leftToPay"])
    paid = data(card.post_graphql(TRANSACTION_CREATE, {
        "id": gid("Checkout", shopper_checkout.pk), "amount": str(rest), "psp": "card-1"}))
    completed = data(user_api_client.post_graphql(
        COMPLETE, {"id": gid("Checkout", shopper_checkout.pk)}))["checkoutComplete"]

    # then
    assert result["data"]["applied"] == "10.00"
    assert rest == total - Decimal("10.00")
    assert refused["errors"][0]["code"] == "CHECKOUT_NOT_FULLY_PAID"
    assert paid["transactionCreate"]["errors"] == []
    assert completed["errors"] == []
    order = Order.objects.get()
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    assert item.charged_value == Decimal("10.00")
    assert Account.objects.get(user=customer_user).balance == 0
    assert no_failure_events()
    assert_money_consistent()
    assert order.status == OrderStatus.UNFULFILLED


def test_transaction_initialize_with_an_amount_reserves_that_amount(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    fund(customer_user, "50.00")

    result = initialize(user_api_client, shopper_checkout, {"amount": "7.50"})

    assert result["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    assert result["transaction"]["authorizedAmount"]["amount"] == 7.5
    hold = active_holds().get()
    assert hold.amount == Decimal("7.50") and hold.requested_amount == Decimal("7.50")
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    assert hold.transaction_id == item.token and item.authorized_value == hold.amount
    assert no_failure_events()
    assert_money_consistent()


@pytest.mark.parametrize(("amount", "code"), [
    ("abc", "INVALID_AMOUNT"), ("-1", "INVALID_AMOUNT"), ("1.001", "INVALID_AMOUNT"),
    ("NaN", "INVALID_AMOUNT"), (1.555, "INVALID_AMOUNT"), ("6.00", "INSUFFICIENT_FUNDS"),
    ("100000", "INVALID_AMOUNT"), ({"x": 1}, "INVALID_AMOUNT"),
])
def test_transaction_initialize_refuses_bad_amounts_and_changes_nothing(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client,
    amount, code,
):
    fund(customer_user, "5.00")

    result = initialize(user_api_client, shopper_checkout, {"amount": amount})

    assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
    assert result["data"]["errors"][0]["code"] == code
    assert result["transaction"]["authorizedAmount"]["amount"] == 0
    assert not Hold.objects.exists()
    assert_money_consistent()


def test_transaction_initialize_retried_with_the_same_key_reserves_once(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    fund(customer_user, "50.00")
    # a storefront retrying the same request: same key, same Saleor amount
    variables = {"id": gid("Checkout", shopper_checkout.pk), "data": {"amount": "5.00"},
                 "key": "retry-1", "amount": "5.00"}
    query = INITIALIZE.replace(
        "$data: JSON)", "$data: JSON, $key: String, $amount: PositiveDecimal)").replace(
        "data: $data})", "data: $data}, idempotencyKey: $key, amount: $amount)")

    first = data(user_api_client.post_graphql(query, variables))["transactionInitialize"]
    again = data(user_api_client.post_graphql(query, variables))["transactionInitialize"]

    assert again["errors"] == [], again
    assert first["transaction"]["id"] == again["transaction"]["id"]
    assert again["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    assert item.authorized_value == Decimal("5.00")
    assert active_holds().get().amount == Decimal("5.00")
    assert Account.objects.get(user=customer_user).held == Decimal("5.00")
    assert no_failure_events()
    assert_money_consistent()


def test_a_retry_after_the_reservation_was_removed_is_refused_cleanly(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    fund(customer_user, "50.00")
    query = INITIALIZE.replace(
        "$data: JSON)", "$data: JSON, $key: String, $amount: PositiveDecimal)").replace(
        "data: $data})", "data: $data}, idempotencyKey: $key, amount: $amount)")
    variables = {"id": gid("Checkout", shopper_checkout.pk), "data": {"amount": "5.00"},
                 "key": "retry-2", "amount": "5.00"}
    data(user_api_client.post_graphql(query, variables))
    initialize(user_api_client, shopper_checkout, {"amount": "0"})

    late = data(user_api_client.post_graphql(query, variables))["transactionInitialize"]

    assert late["data"]["errors"][0]["field"] == "idempotencyKey"
    assert not active_holds().exists()
    assert Account.objects.get(user=customer_user).held == 0
    assert_money_consistent()


# --- item 3: changing and removing through transactionInitialize -------------------------


def test_transaction_initialize_again_moves_the_one_reservation(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    # given
    account = fund(customer_user, "50.00")
    initialize(user_api_client, shopper_checkout, {"amount": "5.00"})

    # when
    again = initialize(user_api_client, shopper_checkout, {"amount": "8.00"})

    # then: one reservation, on the newest transaction; the first one cancelled
    first, second = TransactionItem.objects.filter(
        app_identifier=payments.GATEWAY_ID).order_by("pk")
    assert again["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    assert active_holds().count() == 1
    assert active_holds().get().transaction_id == second.token
    assert second.authorized_value == Decimal("8.00")
    assert first.authorized_value == 0 and first.canceled_value == Decimal("5.00")
    account.refresh_from_db()
    assert account.held == Decimal("8.00")
    assert again["data"]["applied"] == "8.00"
    assert no_failure_events()
    assert_money_consistent()


def test_transaction_initialize_with_amount_zero_removes_the_store_credit(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    account = fund(customer_user, "50.00")
    initialize(user_api_client, shopper_checkout, {"amount": "5.00"})

    removed = initialize(user_api_client, shopper_checkout, {"amount": "0"})

    first = TransactionItem.objects.filter(app_identifier=payments.GATEWAY_ID).order_by(
        "pk").first()
    assert removed["errors"] == []
    assert removed["data"]["applied"] is None
    assert removed["transaction"]["authorizedAmount"]["amount"] == 0
    assert first.authorized_value == 0 and first.canceled_value == Decimal("5.00")
    assert not active_holds().exists()
    account.refresh_from_db()
    assert account.held == 0
    shopper_checkout.refresh_from_db()
    assert shopper_checkout.authorize_status == CheckoutAuthorizeStatus.NONE
    assert_money_consistent()


def test_plugin_endpoint_remove_releases_a_native_reservation(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client,
    sc_client,
):
    fund(customer_user, "50.00")
    initialize(user_api_client, shopper_checkout, {"amount": "5.00"})
    assert active_holds().get().amount == Decimal("5.00")

    removed = sc_client(user=customer_user).query(
        REMOVE, {"id": gid("Checkout", shopper_checkout.pk)})

    assert removed["data"]["checkoutStoreCreditRemove"]["errors"] == []
    assert not active_holds().exists()
    assert TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID).authorized_value == 0
    assert_money_consistent()


# --- capture, refund, cancel as for the plugin-endpoint path ------------------------------


def test_native_payment_refunds_and_cancels_like_the_plugin_endpoint_path(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client,
    staff_api_client, permission_manage_payments, permission_manage_orders,
):
    from saleor.account.models import Group

    account = fund(customer_user, "1000.00")
    initialize(user_api_client, shopper_checkout)
    data(user_api_client.post_graphql(COMPLETE, {"id": gid("Checkout", shopper_checkout.pk)}))
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    captured = item.charged_value
    group = Group.objects.create(name="payments", restricted_access_to_channels=False)
    group.permissions.add(permission_manage_payments, permission_manage_orders)
    group.user_set.add(staff_api_client.user)

    refunded = data(staff_api_client.post_graphql(REQUEST_ACTION, {
        "id": gid("TransactionItem", item.token), "type": "REFUND", "amount": "5.00"}))

    assert refunded["transactionRequestAction"]["errors"] == []
    item.refresh_from_db()
    assert item.refunded_value == Decimal("5.00")
    assert item.charged_value == captured - Decimal("5.00")
    account.refresh_from_db()
    assert account.balance == Decimal("1000.00") - captured + Decimal("5.00")
    assert Entry.objects.filter(kind="refund").aggregate(t=Sum("amount"))["t"] == Decimal("5.00")
    # as on the plugin-endpoint path, at most WebhookPlugin's uncounted note
    assert not TransactionEvent.objects.filter(
        type__in=FAILURES, include_in_calculations=True).exists()
    assert_money_consistent()


def test_cancelled_unconfirmed_native_order_releases_the_credit(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client,
    staff_api_client, permission_manage_orders,
):
    from saleor.account.models import Group

    channel = shopper_checkout.channel
    channel.automatically_confirm_all_new_orders = False
    channel.save(update_fields=["automatically_confirm_all_new_orders"])
    account = fund(customer_user, "1000.00")
    initialize(user_api_client, shopper_checkout)
    data(user_api_client.post_graphql(COMPLETE, {"id": gid("Checkout", shopper_checkout.pk)}))
    order = Order.objects.get()
    assert order.status == OrderStatus.UNCONFIRMED
    assert active_holds().count() == 1
    group = Group.objects.create(name="orders", restricted_access_to_channels=False)
    group.permissions.add(permission_manage_orders)
    group.user_set.add(staff_api_client.user)

    cancelled = data(staff_api_client.post_graphql(ORDER_CANCEL, {"id": gid("Order", order.pk)}))

    assert cancelled["orderCancel"]["errors"] == []
    assert not active_holds().exists()
    account.refresh_from_db()
    assert account.balance == Decimal("1000.00") and account.held == 0
    assert TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID).authorized_value == 0
    assert_money_consistent()


# --- permission probes, plugin inactive, App not installed -------------------------------


def test_guest_cannot_spend_a_customers_credit(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, api_client
):
    fund(customer_user, "50.00")

    result = initialize(api_client, shopper_checkout)

    assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
    assert result["data"]["errors"][0]["code"] == "NOT_FOUND"
    assert "50" not in result["transactionEvent"]["message"]
    assert not Hold.objects.exists()


def test_another_customer_cannot_spend_on_someone_elses_checkout(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, staff_user,
    staff_api_client,
):
    fund(customer_user, "50.00")
    fund(staff_user, "50.00")

    result = initialize(staff_api_client, shopper_checkout)

    assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
    assert result["data"]["errors"][0]["code"] == "NOT_FOUND"
    assert not Hold.objects.exists()


def test_an_app_cannot_spend_a_customers_credit(
    store_credit_plugin, companion_app, shopper_checkout, customer_user,
    permission_manage_payments,
):
    fund(customer_user, "50.00")
    app = payment_app_client(permission_manage_payments)

    result = initialize(app, shopper_checkout)

    assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
    assert result["data"]["errors"][0]["code"] == "NOT_FOUND"
    assert not Hold.objects.exists()


def test_channel_not_enabled_is_refused(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    from saleor_store_credit import conf

    store_credit_plugin.configuration = [
        {**c, "value": "some-other-channel"} if c["name"] == conf.ENABLED_CHANNELS else c
        for c in store_credit_plugin.configuration
    ]
    store_credit_plugin.save(update_fields=["configuration"])
    fund(customer_user, "50.00")

    result = initialize(user_api_client, shopper_checkout)

    assert result["data"]["errors"][0]["code"] == "CHANNEL_NOT_ENABLED"
    assert not Hold.objects.exists()


def test_plugin_inactive_gets_saleors_own_failure_and_reserves_nothing(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    PluginConfiguration.objects.filter(pk=store_credit_plugin.pk).update(active=False)
    fund(customer_user, "50.00")

    result = initialize(user_api_client, shopper_checkout)

    # Saleor's own answer (WebhookPlugin: the companion App has no session webhook):
    # a failure of the channel's flow, nothing authorized
    flow = shopper_checkout.channel.default_transaction_flow_strategy
    assert result["errors"] == []
    assert result["transactionEvent"]["type"] == f"{flow.upper()}_FAILURE"
    assert result["transaction"]["authorizedAmount"]["amount"] == 0
    assert result["data"] is None
    assert not Hold.objects.exists()


def test_without_the_companion_app_saleor_answers_not_found_and_the_endpoint_works(
    store_credit_plugin, shopper_checkout, customer_user, user_api_client, sc_client
):
    fund(customer_user, "50.00")

    result = initialize(user_api_client, shopper_checkout)
    applied = sc_client(user=customer_user).query(
        APPLY, {"id": gid("Checkout", shopper_checkout.pk), "amount": "5.00"})

    assert result["errors"][0]["code"] == "NOT_FOUND"
    assert result["errors"][0]["field"] == "paymentGateway"
    assert applied["data"]["checkoutStoreCreditApply"]["errors"] == []
    assert active_holds().get().amount == Decimal("5.00")


# --- item 2: paymentGatewayInitialize lists the gateway ----------------------------------


def test_payment_gateway_initialize_lists_balance_applied_and_left_to_pay(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    fund(customer_user, "12.34")
    total = total_of(shopper_checkout)
    initialize(user_api_client, shopper_checkout, {"amount": "2.34"})

    content = data(user_api_client.post_graphql(
        GATEWAYS, {"id": gid("Checkout", shopper_checkout.pk)}))

    configs = {c["id"]: c for c in content["paymentGatewayInitialize"]["gatewayConfigs"]}
    listed = configs[payments.GATEWAY_ID]
    assert listed["errors"] == []
    assert listed["data"]["available"] == "10.00"
    assert listed["data"]["applied"] == "2.34"
    assert listed["data"]["currency"] == "USD"
    assert Decimal(listed["data"]["leftToPay"]) == total - Decimal("2.34")


def test_payment_gateway_initialize_lists_nothing_for_guests(
    store_credit_plugin, companion_app, checkout, api_client
):
    content = data(api_client.post_graphql(GATEWAYS, {"id": gid("Checkout", checkout.pk)}))

    ids = [c["id"] for c in content["paymentGatewayInitialize"]["gatewayConfigs"]]
    assert payments.GATEWAY_ID not in ids
    assert content["paymentGatewayInitialize"]["errors"] == []


# --- item 4: one service, two entry points -----------------------------------------------


def _state(checkout, user):
    """What a shopper's store credit looks like, in the ledger and in Saleor."""
    checkout.refresh_from_db()
    account = Account.objects.get(user=user)
    items = TransactionItem.objects.filter(
        checkout_id=checkout.pk, app_identifier=payments.GATEWAY_ID)
    holds = Hold.objects.filter(checkout_id=checkout.pk)
    active = holds.filter(status=HoldStatus.ACTIVE)
    authorized = items.aggregate(t=Sum("authorized_value"))["t"] or Decimal(0)
    return {
        "balance": account.balance, "held": account.held,
        "active_holds": sorted(h.amount for h in active),
        "authorized": authorized,
        "hold_equals_authorized": (sum((h.amount for h in active), Decimal(0))
                                   == authorized),
        "authorize_status": checkout.authorize_status,
        "charge_status": checkout.charge_status,
        "entries": sorted((e.kind, e.amount) for e in Entry.objects.filter(account=account)),
    }


def test_both_entry_points_leave_identical_ledger_and_saleor_state(
    store_credit_plugin, companion_app, shopper_checkout, checkout_delivery, customer_user,
    user_api_client, sc_client,
):
    from saleor.account.models import User

    from .fixtures import clone_checkout

    # given: two shoppers with the same balance and the same cart
    twin = User.objects.create(email="twin@example.com", is_active=True)
    fund(customer_user, "40.00")
    fund(twin, "40.00")
    native_checkout = shopper_checkout
    endpoint_checkout = clone_checkout(shopper_checkout, checkout_delivery, twin)
    from saleor.graphql.tests.fixtures import ApiClient

    twin_saleor = ApiClient(user=twin)
    endpoint = sc_client(user=twin)
    endpoint_id = gid("Checkout", endpoint_checkout.pk)

    steps = [("apply", "5.00"), ("apply", "8.00"), ("remove", None), ("apply", None)]
    for action, amount in steps:
        # when: the same step both ways
        if action == "apply":
            native = initialize(user_api_client, native_checkout,
                                {"amount": amount} if amount else None)
            plugin = endpoint.query(APPLY, {"id": endpoint_id, "amount": amount})
            plugin = plugin["data"]["checkoutStoreCreditApply"]
            assert plugin["errors"] == []
            assert native["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
            # both report what is left to pay
            assert Decimal(native["data"]["leftToPay"]) == Decimal(
                str(plugin["checkoutStoreCredit"]["leftToPay"]["amount"]))
        else:
            initialize(user_api_client, native_checkout, {"amount": "0"})
            assert endpoint.query(REMOVE, {"id": endpoint_id})[
                "data"]["checkoutStoreCreditRemove"]["errors"] == []
        # then
        assert _state(native_checkout, customer_user) == _state(endpoint_checkout, twin), (
            action, amount)

    # and completing both captures the same
    data(user_api_client.post_graphql(COMPLETE, {"id": gid("Checkout", native_checkout.pk)}))
    data(twin_saleor.post_graphql(COMPLETE, {"id": endpoint_id}))
    orders = {o.user_id: o for o in Order.objects.all()}
    assert orders[customer_user.pk].charge_status == orders[twin.pk].charge_status
    native_account = Account.objects.get(user=customer_user)
    endpoint_account = Account.objects.get(user=twin)
    assert (native_account.balance, native_account.held) == (
        endpoint_account.balance, endpoint_account.held)
    assert_money_consistent()


def test_native_reservation_follows_the_cart_like_the_endpoints(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    from .support import LINES_UPDATE

    # given: all of the total paid with credit through Saleor's own API
    fund(customer_user, "1000.00")
    line = shopper_checkout.lines.get()
    line.quantity = 3
    line.save(update_fields=["quantity"])
    shopper_checkout.price_expiration = shopper_checkout.created_at
    shopper_checkout.save(update_fields=["price_expiration"])
    initialize(user_api_client, shopper_checkout)
    before = active_holds().get().amount
    # a refused attempt leaves a newer store-credit transaction without a reservation
    refused = initialize(user_api_client, shopper_checkout, {"amount": "abc"})
    assert refused["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"

    # when: the cart shrinks
    content = data(user_api_client.post_graphql(LINES_UPDATE, {
        "id": gid("Checkout", shopper_checkout.pk),
        "lines": [{"lineId": gid("CheckoutLine", line.pk), "quantity": 1}],
    }))["checkoutLinesUpdate"]

    # then: the one reservation shrinks to the new total, in the ledger and in Saleor
    assert content["errors"] == []
    new_total = Decimal(str(content["checkout"]["totalPrice"]["gross"]["amount"]))
    assert new_total < before
    hold = active_holds().get()
    assert hold.amount == new_total
    item = TransactionItem.objects.get(token=hold.transaction_id)
    assert item.authorized_value == new_total
    assert_money_consistent()


def test_a_second_initialize_before_saleor_records_the_first_leaves_one_authorization(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client
):
    """Saleor records a session answer after the plugin's hook returns, outside the
    plugin's locks; a second `transactionInitialize` landing in between must still
    leave exactly one authorization, equal to the one reservation."""
    from saleor.graphql.tests.fixtures import ApiClient
    from saleor.tests.race_condition import RunAfter

    fund(customer_user, "50.00")
    second_tab = ApiClient(user=customer_user)
    seen = {}

    def second_call(*_args, **_kwargs):
        seen["second"] = initialize(second_tab, shopper_checkout, {"amount": "8.00"})

    # when: the second call runs right after the first call's hook has answered
    with RunAfter("saleor_store_credit.checkout.native.initialize_session", second_call):
        first = initialize(user_api_client, shopper_checkout, {"amount": "5.00"})

    # then
    assert seen["second"]["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    assert first["errors"] == []
    items = TransactionItem.objects.filter(app_identifier=payments.GATEWAY_ID)
    assert items.aggregate(t=Sum("authorized_value"))["t"] == Decimal("8.00")
    assert active_holds().get().amount == Decimal("8.00")
    assert Account.objects.get(user=customer_user).held == Decimal("8.00")
    assert_money_consistent()


@pytest.mark.parametrize("entry_point", ["native", "endpoint"])
def test_staff_cancel_and_partial_charge_act_alike_on_both_paths(
    store_credit_plugin, companion_app, shopper_checkout, customer_user, user_api_client,
    sc_client, staff_api_client, permission_manage_payments, entry_point,
):
    """The same staff actions on a reservation made either way: a partial cancel keeps
    the rest reserved, a full cancel releases it (as in test_checkout.py)."""
    from saleor.account.models import Group

    account = fund(customer_user, "30.00")
    if entry_point == "native":
        initialize(user_api_client, shopper_checkout, {"amount": "12.00"})
    else:
        sc_client(user=customer_user).query(
            APPLY, {"id": gid("Checkout", shopper_checkout.pk), "amount": "12.00"})
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    group = Group.objects.create(name="payments", restricted_access_to_channels=False)
    group.permissions.add(permission_manage_payments)
    group.user_set.add(staff_api_client.user)
    item_id = gid("TransactionItem", item.token)

    partial = data(staff_api_client.post_graphql(
        REQUEST_ACTION, {"id": item_id, "type": "CANCEL", "amount": "2.00"}))
    item.refresh_from_db()
    account.refresh_from_db()
    assert partial["transactionRequestAction"]["errors"] == []
    assert item.authorized_value == Decimal("10.00") and account.held == Decimal("10.00")
    assert_money_consistent()

    full = data(staff_api_client.post_graphql(
        REQUEST_ACTION, {"id": item_id, "type": "CANCEL"}))
    item.refresh_from_db()
    account.refresh_from_db()
    assert full["transactionRequestAction"]["errors"] == []
    assert item.authorized_value == 0 and account.held == 0
    assert not active_holds().exists()
    assert not TransactionEvent.objects.filter(
        type__in=FAILURES, include_in_calculations=True).exists()
    assert_money_consistent()
