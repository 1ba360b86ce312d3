"""Pay on account (issue 19, item 2) inside real Saleor: a B2B customer with a credit
limit places the order without a card, through Saleor's own `transactionInitialize`
(gateway `saleor-store-credit.on-account`) or the plugin endpoint; store credit first,
the rest on account; staff (or an app) record the invoice paid, partly or fully;
Saleor's view of the transaction equals the plugin's after every step."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from saleor.account.models import User  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402
from saleor.order import OrderChargeStatus, OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.payment import TransactionEventType  # noqa: E402
from saleor.payment.models import TransactionItem  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402

from saleor_store_credit import checkout as payments  # noqa: E402
from saleor_store_credit import conf  # noqa: E402
from saleor_store_credit.checkout import on_account  # noqa: E402
from saleor_store_credit.credit import exposure, limits  # noqa: E402
from saleor_store_credit.credit.models import BlockingRule, CreditAudit, OrderHold  # noqa: E402
from saleor_store_credit.credit.terms_models import (  # noqa: E402
    OnAccountEntry,
    OnAccountPayment,
)
from saleor_store_credit.ledger import Actor  # noqa: E402
from saleor_store_credit.models import Hold, HoldStatus  # noqa: E402

from .fixtures import clone_checkout  # noqa: E402
from .support import (  # noqa: E402
    REQUEST_ACTION,
    TRANSACTION_CREATE_CHARGED,
    assert_money_consistent,
    data,
    gid,
    payment_app_client,
)
from .test_checkout import APPLY, fund, grant  # noqa: E402

ON_ACCOUNT = "saleor-store-credit.on-account"
HOOK = "http://127.0.0.1:9/on-account-events"

INITIALIZE = """
mutation ($id: ID!, $data: JSON) {
  transactionInitialize(id: $id, paymentGateway: {id: "saleor-store-credit.on-account",
                                                   data: $data}) {
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
  order { id status chargeStatus authorizeStatus } errors { field code message } } }
"""
AUTHORIZE = """
mutation ($id: ID!, $amount: Decimal) {
  checkoutPayOnAccountAuthorize(checkoutId: $id, amount: $amount) {
    checkoutPayOnAccount { eligible authorized { amount } amount { amount } fits
                           availableCredit { amount } transactionId }
    errors { field code message } } }
"""
REMOVE = """
mutation ($id: ID!) { checkoutPayOnAccountRemove(checkoutId: $id) {
  checkoutPayOnAccount { authorized { amount } } errors { field code message } } }
"""
STATUS = """
query ($id: ID!) { checkoutPayOnAccount(checkoutId: $id) {
  eligible authorized { amount } amount { amount } fits availableCredit { amount }
  terms { name description dueDate } } }
"""
RECORD = """
mutation ($order: ID!, $amount: Decimal, $currency: String, $reference: String,
          $key: String) {
  orderInvoicePaymentRecord(orderId: $order, amount: $amount, currency: $currency,
                            reference: $reference, idempotencyKey: $key) {
    orderPaymentTerms { status owed { amount }
      onAccount { open { amount } paid { amount } entries { kind amount { amount }
                  reference actor { type label } } } }
    entry { kind amount { amount } reference }
    errors { field code message } } }
"""
ORDER_CANCEL = "mutation ($id: ID!) { orderCancel(id: $id) { errors { field code message } } }"


@pytest.fixture
def store_credit_config():
    return {conf.CREDIT_CHANNELS: "*", conf.ON_ACCOUNT_CHANNELS: "*",
            conf.WEBHOOK_TARGETS: HOOK, conf.WEBHOOK_SECRET: "s3cret"}


@pytest.fixture
def on_account_app(db):
    """The second companion App, as the merchant installs it from
    /app/on-account/manifest: a real, active App with the gateway's identifier."""
    from saleor.app.models import App

    return App.objects.create(name="Pay on account", identifier=ON_ACCOUNT, is_active=True)


@pytest.fixture
def b2b_channel(checkout_ready_to_complete):
    """A channel that takes no unpaid orders: without a card, only pay on account
    places the order."""
    channel = checkout_ready_to_complete.channel
    channel.allow_unpaid_orders = False
    channel.automatically_confirm_all_new_orders = True
    channel.save(update_fields=["allow_unpaid_orders", "automatically_confirm_all_new_orders"])
    return channel


@pytest.fixture
def total(checkout_ready_to_complete):
    return payments.left_to_pay(checkout_ready_to_complete,
                                get_plugins_manager(allow_replica=False))


@pytest.fixture
def new_checkout(store_credit_plugin, b2b_channel, checkout_ready_to_complete,
                 checkout_delivery, customer_user):
    def make(user=None):
        return clone_checkout(checkout_ready_to_complete, checkout_delivery,
                              user or customer_user)

    return make


def give_limit(user, amount, currency="USD", staff=None):
    return limits.set_limit_directly(
        actor=Actor.system("test"), settings=conf.StoreCreditSettings(), user=user,
        currency=currency, amount=None if amount is None else str(amount),
        unlimited=amount is None)


def initialize(client, checkout, data_=None):
    response = client.post_graphql(INITIALIZE, {"id": gid("Checkout", checkout.pk),
                                                "data": data_})
    return data(response)["transactionInitialize"]


def complete(user, checkout):
    response = ApiClient(user=user).post_graphql(COMPLETE, {"id": gid("Checkout", checkout.pk)})
    return data(response)["checkoutComplete"]


def oa_items(**filters):
    return TransactionItem.objects.filter(app_identifier=ON_ACCOUNT, **filters)


def assert_on_account_consistent():
    """Saleor's view of every on-account transaction equals the plugin's."""
    for item in oa_items():
        payment = OnAccountPayment.objects.filter(transaction_token=item.token).first()
        ours = (Decimal(0), Decimal(0), Decimal(0)) if payment is None else (
            payment.open_amount, payment.paid_amount - payment.refunded_amount,
            payment.refunded_amount)
        assert (item.authorized_value, item.charged_value, item.refunded_value) == ours, (
            item.token, item.authorized_value, item.charged_value, item.refunded_value, ours)
    assert_money_consistent()


@pytest.fixture
def staff(sc_client, staff_user, permission_manage_orders, permission_manage_payments,
          permission_manage_users):
    grant(staff_user, permission_manage_orders, permission_manage_payments,
          permission_manage_users)
    return sc_client(user=staff_user)


def placed_on_account(user, checkout, total, client=None):
    """A checkout paid fully on account through Saleor's API, completed."""
    result = initialize(client or ApiClient(user=user), checkout)
    assert result["errors"] == [] and result["transactionEvent"]["type"] == \
        "AUTHORIZATION_SUCCESS", result
    done = complete(user, checkout)
    assert done["errors"] == [], done
    return Order.objects.get(checkout_token=str(checkout.pk))


def record(staff, order, **variables):
    response = staff.query(RECORD, {"order": gid("Order", order.pk), **variables})
    assert "errors" not in response, response
    return response["data"]["orderInvoicePaymentRecord"]


# --- placing the order without a card -----------------------------------------------------


def test_pay_on_account_through_saleors_transaction_initialize_places_the_order(
    new_checkout, on_account_app, customer_user, user_api_client, total,
):
    # given a B2B customer with a credit limit and a channel without unpaid orders
    give_limit(customer_user, total * 3)
    checkout = new_checkout()

    # when they pay on account through Saleor's own API and complete
    result = initialize(user_api_client, checkout)
    done = complete(customer_user, checkout)

    # then the order is placed without a card, authorized on account
    assert result["errors"] == []
    assert result["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    assert Decimal(str(result["transaction"]["authorizedAmount"]["amount"])) == total
    assert result["data"]["authorized"] == str(total)
    assert done["errors"] == [] and done["order"]["status"] == "UNFULFILLED"
    order = Order.objects.get()
    item = oa_items().get()
    assert item.order_id == order.pk and item.app_id == on_account_app.pk
    assert item.name == "Pay on account" and item.authorized_value == total
    assert set(item.available_actions) == {"CHARGE", "CANCEL"}
    payment = OnAccountPayment.objects.get()
    assert payment.order_id == order.pk and payment.open_amount == total
    assert payment.expires_at is None
    # it is owed: the exposure counts it, the order is not paid
    assert exposure.orders_exposure([customer_user.pk], "USD") == total
    assert order.charge_status == OrderChargeStatus.NONE
    assert not item.events.filter(type__in=[
        TransactionEventType.AUTHORIZATION_FAILURE]).exists()
    assert_on_account_consistent()


def test_pay_on_account_on_the_plugin_endpoint_places_the_order(
    new_checkout, sc_client, customer_user, total,
):
    give_limit(customer_user, total * 3)
    checkout = new_checkout()
    shopper = sc_client(user=customer_user)

    before = shopper.query(STATUS, {"id": gid("Checkout", checkout.pk)})["data"][
        "checkoutPayOnAccount"]
    result = shopper.query(AUTHORIZE, {"id": gid("Checkout", checkout.pk)})["data"][
        "checkoutPayOnAccountAuthorize"]
    done = complete(customer_user, checkout)

    assert before["eligible"] is True and before["fits"] is True
    assert Decimal(str(before["availableCredit"]["amount"])) == total * 3
    assert Decimal(str(before["amount"]["amount"])) == total
    assert result["errors"] == []
    assert Decimal(str(result["checkoutPayOnAccount"]["authorized"]["amount"])) == total
    assert done["errors"] == []
    item = oa_items().get()
    assert item.app_id is None and item.order_id == Order.objects.get().pk
    assert OnAccountPayment.objects.get().open_amount == total
    assert_on_account_consistent()


def test_store_credit_first_the_rest_on_account(
    new_checkout, on_account_app, sc_client, customer_user, user_api_client, total,
):
    # given store credit and a credit limit
    fund(customer_user, "10.00")
    give_limit(customer_user, total * 3)
    checkout = new_checkout()
    shopper = sc_client(user=customer_user)

    # when store credit is applied and the rest paid on account
    applied = shopper.query(APPLY, {"id": gid("Checkout", checkout.pk)})["data"][
        "checkoutStoreCreditApply"]
    result = initialize(user_api_client, checkout)
    done = complete(customer_user, checkout)

    # then store credit pays 10, pay on account the rest
    assert applied["errors"] == []
    assert result["errors"] == []
    assert Decimal(str(result["transaction"]["authorizedAmount"]["amount"])) == \
        total - Decimal("10.00")
    assert done["errors"] == []
    order = Order.objects.get()
    store_credit = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    assert store_credit.charged_value == Decimal("10.00")  # confirmed: charged
    assert oa_items().get().authorized_value == total - Decimal("10.00")
    assert exposure.orders_exposure([customer_user.pk], "USD") == total - Decimal("10.00")
    assert order.status == OrderStatus.UNFULFILLED
    assert_on_account_consistent()


def test_pay_on_account_next_to_a_card_that_charged_everything_is_released_on_the_order(
    new_checkout, on_account_app, customer_user, user_api_client, total,
    permission_manage_payments,
):
    # given an on-account authorization of the whole total, and then a card app that
    # charges the whole total too (the gate does not look: charges alone cover it)
    give_limit(customer_user, total * 3)
    checkout = new_checkout()
    assert initialize(user_api_client, checkout)["errors"] == []
    card = payment_app_client(permission_manage_payments)
    paid = data(card.post_graphql(TRANSACTION_CREATE_CHARGED, {
        "id": gid("Checkout", checkout.pk), "amount": str(total), "psp": "card-1"}))
    assert paid["transactionCreate"]["errors"] == []

    # when the order is placed
    done = complete(customer_user, checkout)

    # then nothing stays open on account: no invoice, no exposure, Saleor agrees
    assert done["errors"] == [], done
    order = Order.objects.get()
    assert oa_items().get().authorized_value == 0
    assert on_account.order_open(order.pk) == 0
    assert exposure.orders_exposure([customer_user.pk], "USD") == 0
    order.refresh_from_db()
    assert order.total_authorized_amount == 0
    assert order.charge_status == OrderChargeStatus.FULL
    assert_on_account_consistent()


def test_store_credit_applied_after_pay_on_account_still_comes_first(
    new_checkout, on_account_app, sc_client, customer_user, user_api_client, total,
):
    fund(customer_user, "10.00")
    give_limit(customer_user, total * 3)
    checkout = new_checkout()
    shopper = sc_client(user=customer_user)

    initialize(user_api_client, checkout)  # all of it on account
    applied = shopper.query(APPLY, {"id": gid("Checkout", checkout.pk)})["data"][
        "checkoutStoreCreditApply"]
    done = complete(customer_user, checkout)

    assert applied["errors"] == []
    assert applied["checkoutStoreCredit"]["applied"]["amount"] == 10.0
    assert done["errors"] == []
    # at completion pay on account gave way: it covers only the rest
    item = oa_items().get()
    assert item.authorized_value == total - Decimal("10.00")
    assert OnAccountEntry.objects.filter(kind="cancelled").get().amount == Decimal("10.00")
    assert Hold.objects.get().status == HoldStatus.CAPTURED
    assert_on_account_consistent()


def test_payment_gateway_initialize_lists_pay_on_account_for_the_b2b_owner_only(
    new_checkout, on_account_app, customer_user, user_api_client, api_client, total,
):
    # given a customer with a limit, one without, and a guest
    give_limit(customer_user, total * 3)
    owned = new_checkout()
    plain = User.objects.create(email="retail@example.com", is_active=True)
    retail = new_checkout(plain)

    def listed(client, checkout):
        configs = data(client.post_graphql(GATEWAYS, {"id": gid("Checkout", checkout.pk)}))[
            "paymentGatewayInitialize"]["gatewayConfigs"]
        return {c["id"]: c["data"] for c in configs}

    ours = listed(user_api_client, owned)
    assert ON_ACCOUNT in ours
    assert ours[ON_ACCOUNT]["eligible"] is True
    assert ours[ON_ACCOUNT]["amount"] == str(total)
    assert ours[ON_ACCOUNT]["availableCredit"] == str(total * 3)
    # a customer without a credit account, another customer, a guest: not listed
    assert ON_ACCOUNT not in listed(ApiClient(user=plain), retail)
    assert ON_ACCOUNT not in listed(ApiClient(user=plain), owned)
    assert ON_ACCOUNT not in listed(api_client, owned)


# --- attacks at checkout -----------------------------------------------------------------------


def test_guest_other_customer_and_app_cannot_pay_on_account(
    new_checkout, on_account_app, customer_user, api_client, app_api_client,
    permission_manage_payments, total,
):
    give_limit(customer_user, total * 3)
    checkout = new_checkout()
    other = User.objects.create(email="other@example.com", is_active=True)
    give_limit(other, total * 3)
    app_api_client.app.permissions.add(permission_manage_payments)

    for client in (api_client, ApiClient(user=other), app_api_client):
        result = initialize(client, checkout)
        assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE", result
        assert result["data"]["errors"][0]["code"] == "NOT_FOUND"

    assert not OnAccountPayment.objects.exists()
    assert sum(i.authorized_value for i in oa_items()) == 0
    refused = complete(customer_user, checkout)
    assert refused["errors"][0]["code"] == "CHECKOUT_NOT_FULLY_PAID"
    assert_on_account_consistent()


def test_no_credit_account_in_the_checkouts_currency_is_refused(
    new_checkout, on_account_app, customer_user, user_api_client, total,
):
    give_limit(customer_user, total * 3, currency="EUR")  # a EUR account only
    checkout = new_checkout()

    result = initialize(user_api_client, checkout)

    assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
    assert result["data"]["errors"][0]["code"] == "CREDIT_NOT_AVAILABLE"
    assert not OnAccountPayment.objects.exists()
    assert CreditAudit.objects.filter(kind="on_account_refused").count() == 1


def test_pay_on_account_is_offered_only_in_its_channels(
    new_checkout, sc_client, customer_user, total, store_credit_plugin,
):
    from saleor.plugins.models import PluginConfiguration

    give_limit(customer_user, total * 3)
    checkout = new_checkout()
    config = PluginConfiguration.objects.get(pk=store_credit_plugin.pk)
    config.configuration = [
        {**item, "value": "other-channel"} if item["name"] == conf.ON_ACCOUNT_CHANNELS else item
        for item in config.configuration]
    config.save()
    shopper = sc_client(user=customer_user)

    status = shopper.query(STATUS, {"id": gid("Checkout", checkout.pk)})["data"]
    result = shopper.query(AUTHORIZE, {"id": gid("Checkout", checkout.pk)})["data"][
        "checkoutPayOnAccountAuthorize"]

    assert status["checkoutPayOnAccount"] is None
    assert result["errors"][0]["code"] == "CHANNEL_NOT_ENABLED"
    assert not OnAccountPayment.objects.exists()


@pytest.mark.parametrize("amount", ["abc", "-1", "0.001", "NaN", "99999999"])
def test_bad_amounts_are_refused_and_nothing_is_authorized(
    new_checkout, sc_client, customer_user, total, amount,
):
    give_limit(customer_user, total * 3)
    checkout = new_checkout()

    result = sc_client(user=customer_user).query(
        AUTHORIZE, {"id": gid("Checkout", checkout.pk), "amount": amount})["data"][
        "checkoutPayOnAccountAuthorize"]

    assert result["errors"][0]["code"] == "INVALID_AMOUNT"
    assert not OnAccountPayment.objects.exists() and not oa_items().exists()


def test_more_than_the_available_credit_is_refused_without_a_limit_rule(
    new_checkout, on_account_app, customer_user, user_api_client, total,
):
    give_limit(customer_user, total - Decimal("1.00"))
    checkout = new_checkout()

    result = initialize(user_api_client, checkout)

    assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
    [error] = result["data"]["errors"]
    assert error["code"] == "CREDIT_NOT_AVAILABLE"
    assert str(total - Decimal("1.00")) in error["message"]
    assert sum(i.authorized_value for i in oa_items()) == 0
    assert complete(customer_user, checkout)["errors"][0]["code"] == "CHECKOUT_NOT_FULLY_PAID"


@pytest.mark.parametrize("action", ["BLOCK", "HOLD", "WARN"])
def test_over_the_limit_the_blocking_rules_decide(
    new_checkout, on_account_app, customer_user, user_api_client, total, action,
    b2b_channel,
):
    # given a hold-enabled channel and a "credit limit exceeded" rule
    b2b_channel.automatically_confirm_all_new_orders = False
    b2b_channel.save(update_fields=["automatically_confirm_all_new_orders"])
    give_limit(customer_user, total - Decimal("1.00"))
    BlockingRule.objects.create(name="limit", rule_type="limit_exceeded", action=action.lower())
    checkout = new_checkout()

    result = initialize(user_api_client, checkout)

    if action == "BLOCK":
        assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
        assert result["data"]["errors"][0]["code"] == "CREDIT_BLOCKED"
        assert "exceeds your available credit" in result["data"]["errors"][0]["message"]
        assert not Order.objects.exists()
        return
    assert result["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    done = complete(customer_user, checkout)
    assert done["errors"] == []
    order = Order.objects.get()
    if action == "HOLD":
        assert order.status == OrderStatus.UNCONFIRMED
        assert OrderHold.objects.get(order_id=order.pk).reason_types == ["limit_exceeded"]
    else:
        assert order.status == OrderStatus.UNFULFILLED
        assert not OrderHold.objects.exists()
    assert_on_account_consistent()


def test_a_payment_method_rule_can_refuse_pay_on_account(
    new_checkout, on_account_app, customer_user, user_api_client, total,
):
    give_limit(customer_user, total * 3)
    BlockingRule.objects.create(name="no credit sales", rule_type="payment_method",
                                action="block", payment_methods=[ON_ACCOUNT])
    checkout = new_checkout()

    result = initialize(user_api_client, checkout)

    assert result["data"]["errors"][0]["code"] == "CREDIT_BLOCKED"
    assert not OnAccountPayment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_of_one_customer_cannot_both_use_the_same_credit(
    store_credit_plugin, b2b_channel, checkout_ready_to_complete, checkout_delivery,
    customer_user,
):
    from saleor.app.models import App

    App.objects.create(name="Pay on account", identifier=ON_ACCOUNT, is_active=True)
    total = payments.left_to_pay(checkout_ready_to_complete,
                                 get_plugins_manager(allow_replica=False))
    give_limit(customer_user, total * Decimal("1.5"))
    checkouts = [clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
                 for _ in range(2)]
    barrier = threading.Barrier(2)
    results, failures = [], []

    def pay(checkout):
        from django.db import connections

        from saleor.core.db.connection import allow_writer

        connections["replica"] = connections["default"]
        try:
            barrier.wait()
            with allow_writer():
                response = ApiClient(user=customer_user).post_graphql(
                    INITIALIZE, {"id": gid("Checkout", checkout.pk), "data": None})
            results.append(response.json()["data"]["transactionInitialize"][
                "transactionEvent"]["type"])
        except Exception as exc:  # asserted below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(c,)) for c in checkouts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert failures == []
    assert sorted(results) == ["AUTHORIZATION_FAILURE", "AUTHORIZATION_SUCCESS"]
    assert sum(i.authorized_value for i in oa_items()) == total
    assert OnAccountPayment.objects.count() == 1
    assert_on_account_consistent()


def test_paying_on_account_again_replaces_the_authorization_and_removal_releases_it(
    new_checkout, on_account_app, customer_user, user_api_client, total,
):
    give_limit(customer_user, total * 3)
    checkout = new_checkout()

    initialize(user_api_client, checkout)
    second = initialize(user_api_client, checkout, {"amount": str(total - 5)})
    removed = initialize(user_api_client, checkout, {"amount": "0"})

    assert second["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    assert removed["transactionEvent"]["message"] == "Pay on account removed."
    assert sum(i.authorized_value for i in oa_items()) == 0
    assert {p.open_amount for p in OnAccountPayment.objects.all()} == {Decimal(0)}
    assert exposure.on_account_checkouts_exposure([customer_user.pk], "USD") == 0
    assert_on_account_consistent()


def test_an_abandoned_checkouts_authorization_lapses(
    new_checkout, sc_client, customer_user, total,
):
    give_limit(customer_user, total * 3)
    checkout = new_checkout()
    sc_client(user=customer_user).query(AUTHORIZE, {"id": gid("Checkout", checkout.pk)})
    deleted = new_checkout()
    sc_client(user=customer_user).query(AUTHORIZE, {"id": gid("Checkout", deleted.pk)})
    deleted.delete()
    assert exposure.on_account_checkouts_exposure([customer_user.pk], "USD") == total

    OnAccountPayment.objects.filter(checkout_token=checkout.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1))
    released = on_account.expire()

    assert released == 2
    assert sum(i.authorized_value for i in oa_items()) == 0
    assert exposure.on_account_checkouts_exposure([customer_user.pk], "USD") == 0
    assert_on_account_consistent()


# --- the invoice: paid partly, fully; attacks ----------------------------------------------------


def test_partial_and_full_invoice_payments_charge_the_transaction(
    new_checkout, on_account_app, customer_user, total, staff,
):
    give_limit(customer_user, total * 3)
    order = placed_on_account(customer_user, new_checkout(), total)
    part = (total / 4).quantize(Decimal("0.01"))

    first = record(staff, order, amount=str(part), currency="USD", reference="BANK-1")
    assert_on_account_consistent()
    second = record(staff, order, reference="BANK-2")  # the rest

    assert first["errors"] == [] and second["errors"] == []
    assert first["orderPaymentTerms"]["onAccount"][0]["open"]["amount"] == float(total - part)
    assert second["entry"]["amount"]["amount"] == float(total - part)
    item = oa_items().get()
    assert item.charged_value == total and item.authorized_value == 0
    order.refresh_from_db()
    assert order.charge_status == OrderChargeStatus.FULL
    assert exposure.orders_exposure([customer_user.pk], "USD") == 0
    entries = OnAccountEntry.objects.filter(kind="payment").order_by("pk")
    assert [(e.reference, e.actor_type) for e in entries] == [("BANK-1", "staff"),
                                                             ("BANK-2", "staff")]
    assert CreditAudit.objects.filter(kind="invoice_payment").count() == 2
    assert_on_account_consistent()


def test_invoice_payments_never_add_up_to_more_than_is_open(
    new_checkout, on_account_app, customer_user, total, staff,
):
    give_limit(customer_user, total * 3)
    order = placed_on_account(customer_user, new_checkout(), total)
    record(staff, order, amount=str(total - 1))

    over = record(staff, order, amount="1.01")
    wrong_currency = record(staff, order, amount="1.00", currency="EUR")
    nothing = record(staff, order, amount="-1")

    assert over["errors"][0]["code"] == "INVALID_AMOUNT"
    assert wrong_currency["errors"][0]["code"] == "CURRENCY_MISMATCH"
    assert nothing["errors"][0]["code"] == "INVALID_AMOUNT"
    assert oa_items().get().charged_value == total - 1
    assert OnAccountEntry.objects.filter(kind="payment").count() == 1
    assert_on_account_consistent()


def test_a_replayed_invoice_payment_is_recorded_once(
    new_checkout, on_account_app, customer_user, total, staff,
):
    give_limit(customer_user, total * 3)
    order = placed_on_account(customer_user, new_checkout(), total)

    first = record(staff, order, amount="5.00", key="pay-1")
    again = record(staff, order, amount="5.00", key="pay-1")

    assert first["errors"] == [] and again["errors"] == []
    assert OnAccountEntry.objects.filter(kind="payment").count() == 1
    assert oa_items().get().charged_value == Decimal("5.00")


@pytest.mark.django_db(transaction=True)
def test_concurrent_invoice_payments_cannot_overpay(
    store_credit_plugin, b2b_channel, checkout_ready_to_complete, checkout_delivery,
    customer_user, staff_user, permission_manage_orders, permission_manage_payments,
):
    from saleor.app.models import App

    from .fixtures import StoreCreditClient, STORE_CREDIT_API

    App.objects.create(name="Pay on account", identifier=ON_ACCOUNT, is_active=True)
    grant(staff_user, permission_manage_orders, permission_manage_payments)
    total = payments.left_to_pay(checkout_ready_to_complete,
                                 get_plugins_manager(allow_replica=False))
    give_limit(customer_user, total * 3)
    checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
    order = placed_on_account(customer_user, checkout, total)
    share = (total * Decimal("0.6")).quantize(Decimal("0.01"))
    barrier = threading.Barrier(2)
    codes, failures = [], []

    def pay():
        from django.db import connections

        from saleor.core.db.connection import allow_writer

        connections["replica"] = connections["default"]
        try:
            barrier.wait()
            with allow_writer():
                client = StoreCreditClient(user=staff_user, api_path=STORE_CREDIT_API)
                payload = client.query(RECORD, {"order": gid("Order", order.pk),
                                                "amount": str(share)})
            codes.append([e["code"] for e in payload["data"]["orderInvoicePaymentRecord"][
                "errors"]])
        except Exception as exc:  # asserted below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert failures == []
    assert sorted(map(str, codes)) == ["['INVALID_AMOUNT']", "[]"]
    assert oa_items().get().charged_value == share
    assert_on_account_consistent()


def test_recording_an_invoice_payment_needs_both_permissions(
    new_checkout, on_account_app, customer_user, total, sc_client, staff_user,
    permission_manage_orders, app_api_client,
):
    give_limit(customer_user, total * 3)
    order = placed_on_account(customer_user, new_checkout(), total)
    grant(staff_user, permission_manage_orders)  # no HANDLE_PAYMENTS
    app_api_client.app.permissions.add(permission_manage_orders)

    for client in (sc_client(user=staff_user), sc_client(app=app_api_client.app),
                   sc_client(user=customer_user), sc_client()):
        response = client.query(RECORD, {"order": gid("Order", order.pk), "amount": "1"})
        assert response["errors"][0]["extensions"]["exception"]["code"] == \
            "PermissionDenied"

    assert oa_items().get().charged_value == 0


def test_an_app_with_the_permissions_records_a_payment(
    new_checkout, on_account_app, customer_user, total, sc_client, app_api_client,
    permission_manage_orders, permission_manage_payments,
):
    give_limit(customer_user, total * 3)
    order = placed_on_account(customer_user, new_checkout(), total)
    app = app_api_client.app
    app.permissions.add(permission_manage_orders, permission_manage_payments)

    result = record(sc_client(app=app), order, amount="3.00", reference="ERP-7")

    assert result["errors"] == []
    entry = OnAccountEntry.objects.get(kind="payment")
    assert (entry.actor_type, entry.actor_label) == ("app", app.name)
    assert_on_account_consistent()


def test_saleors_own_charge_request_records_the_invoice_payment(
    new_checkout, on_account_app, customer_user, total, staff_api_client,
    permission_manage_payments,
):
    # the Dashboard's "Capture" on the transaction (transactionRequestAction CHARGE)
    give_limit(customer_user, total * 3)
    placed_on_account(customer_user, new_checkout(), total)
    grant(staff_api_client.user, permission_manage_payments)
    item = oa_items().get()

    response = staff_api_client.post_graphql(REQUEST_ACTION, {
        "id": gid("TransactionItem", item.token), "type": "CHARGE", "amount": "7.00"})

    assert data(response)["transactionRequestAction"]["errors"] == []
    item.refresh_from_db()
    assert item.charged_value == Decimal("7.00")
    assert item.authorized_value == total - Decimal("7.00")
    entry = OnAccountEntry.objects.get(kind="payment")
    assert entry.actor_label == staff_api_client.user.email
    assert_on_account_consistent()


def test_paying_the_invoice_of_a_cancelled_order_is_refused(
    new_checkout, on_account_app, customer_user, total, staff, staff_api_client,
    permission_manage_orders,
):
    give_limit(customer_user, total * 3)
    order = placed_on_account(customer_user, new_checkout(), total)
    grant(staff_api_client.user, permission_manage_orders)

    cancelled = data(staff_api_client.post_graphql(ORDER_CANCEL, {"id": gid("Order", order.pk)}))
    paid = record(staff, order, amount="1.00")

    assert cancelled["orderCancel"]["errors"] == []
    assert paid["errors"][0]["code"] == "INVALID_STATUS"
    item = oa_items().get()
    assert item.authorized_value == 0 and item.charged_value == 0
    assert OnAccountPayment.objects.get().cancelled_amount == total
    assert exposure.orders_exposure([customer_user.pk], "USD") == 0
    assert_on_account_consistent()


def test_refund_of_an_order_paid_on_account_never_exceeds_what_was_paid(
    new_checkout, on_account_app, customer_user, total, staff, staff_api_client,
    permission_manage_payments,
):
    give_limit(customer_user, total * 3)
    order = placed_on_account(customer_user, new_checkout(), total)
    record(staff, order)  # paid in full
    grant(staff_api_client.user, permission_manage_payments)
    item = oa_items().get()

    refunded = staff_api_client.post_graphql(REQUEST_ACTION, {
        "id": gid("TransactionItem", item.token), "type": "REFUND", "amount": "4.00"})
    item.refresh_from_db()
    assert data(refunded)["transactionRequestAction"]["errors"] == []
    assert (item.refunded_value, item.charged_value) == (Decimal("4.00"),
                                                         total - Decimal("4.00"))
    assert_on_account_consistent()
    # Saleor caps a request at what is charged; the rest goes back, never more
    rest = staff_api_client.post_graphql(REQUEST_ACTION, {
        "id": gid("TransactionItem", item.token), "type": "REFUND", "amount": str(total * 10)})
    assert data(rest)["transactionRequestAction"]["errors"] == []
    item.refresh_from_db()
    assert (item.refunded_value, item.charged_value) == (total, Decimal(0))
    # a request beyond what was paid (e.g. a granted refund) is answered with a failure
    from saleor.payment import TransactionAction

    from saleor_store_credit import saleor_tx

    forged = saleor_tx.request(item, Decimal("1.00"), TransactionAction.REFUND,
                               app_identifier=ON_ACCOUNT)
    on_account.refund_requested(item, forged)

    item.refresh_from_db()
    assert item.refunded_value == total
    assert item.events.filter(type=TransactionEventType.REFUND_FAILURE).exists()
    payment = OnAccountPayment.objects.get()
    assert payment.refunded_amount == payment.paid_amount == total
    # a refund settles: the customer owes nothing for it
    assert exposure.orders_exposure([customer_user.pk], "USD") == 0
    assert_on_account_consistent()


def test_a_credit_note_cancels_part_of_the_invoice(
    new_checkout, on_account_app, customer_user, total, staff_api_client,
    permission_manage_payments,
):
    give_limit(customer_user, total * 3)
    placed_on_account(customer_user, new_checkout(), total)
    grant(staff_api_client.user, permission_manage_payments)
    item = oa_items().get()

    response = staff_api_client.post_graphql(REQUEST_ACTION, {
        "id": gid("TransactionItem", item.token), "type": "CANCEL", "amount": "2.00"})

    assert data(response)["transactionRequestAction"]["errors"] == []
    item.refresh_from_db()
    assert item.authorized_value == total - Decimal("2.00")
    assert exposure.orders_exposure([customer_user.pk], "USD") == total - Decimal("2.00")
    assert_on_account_consistent()


def test_the_next_order_sees_the_open_invoice_as_exposure(
    new_checkout, on_account_app, customer_user, total, staff,
):
    # given one order placed on account with a limit for one and a half orders
    give_limit(customer_user, total * Decimal("1.5"))
    order = placed_on_account(customer_user, new_checkout(), total)

    # then a second is refused until the first invoice is paid
    second = new_checkout()
    refused = initialize(ApiClient(user=customer_user), second)
    record(staff, order)
    accepted = initialize(ApiClient(user=customer_user), second)

    assert refused["data"]["errors"][0]["code"] == "CREDIT_NOT_AVAILABLE"
    assert accepted["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    assert_on_account_consistent()
