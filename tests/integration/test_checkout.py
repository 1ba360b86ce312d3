"""Store credit as a payment method at checkout, inside real Saleor."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

import graphene  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from saleor.checkout import CheckoutAuthorizeStatus  # noqa: E402
from saleor.order import OrderChargeStatus, OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.payment import TransactionEventType  # noqa: E402
from saleor.payment.models import TransactionItem  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402

from saleor_store_credit import checkout as payments  # noqa: E402
from saleor_store_credit import compat as payments_compat  # noqa: E402
from saleor_store_credit.ledger import (  # noqa: E402
    Actor,
    credit,
    get_or_create_account,
    ledger_verify,
)
from saleor_store_credit.models import Account, Entry, Hold, HoldStatus  # noqa: E402

from .support import recompute_checkout_payment_statuses  # noqa: E402

APPLY = """
mutation ($id: ID!, $amount: Decimal) {
  checkoutStoreCreditApply(checkoutId: $id, amount: $amount) {
    checkoutStoreCredit { applied { amount currency } available { amount } transactionId }
    errors { field code message }
  }
}
"""
REMOVE = """
mutation ($id: ID!) {
  checkoutStoreCreditRemove(checkoutId: $id) {
    checkoutStoreCredit { applied { amount } available { amount } }
    errors { field code message }
  }
}
"""
APPLIED = """
query ($id: ID!) { checkoutStoreCredit(checkoutId: $id) { applied { amount } available { amount } } }
"""
COMPLETE = """
mutation ($id: ID) {
  checkoutComplete(id: $id) {
    order { id status authorizeStatus chargeStatus total { gross { amount } } }
    errors { field code message }
  }
}
"""
REQUEST_ACTION = """
mutation ($id: ID, $type: TransactionActionEnum!, $amount: PositiveDecimal) {
  transactionRequestAction(id: $id, actionType: $type, amount: $amount) {
    transaction { chargedAmount { amount } refundedAmount { amount } }
    errors { field code message }
  }
}
"""


def gid(kind, pk):
    return graphene.Node.to_global_id(kind, pk)


def fund(user, amount, currency="USD"):
    account = get_or_create_account(user=user, currency=currency)
    credit(account=account, amount=amount, kind="adjustment", actor=Actor.system())
    return account


def checkout_total(checkout):
    return payments.left_to_pay(checkout, get_plugins_manager(allow_replica=False))


@pytest.fixture
def shopper(sc_client, customer_user):
    return sc_client(user=customer_user)


def grant(user, *permissions):
    """Give a staff member permissions in every channel, as Saleor's groups do."""
    from saleor.account.models import Group

    group = Group.objects.create(
        name=f"store credit staff {Group.objects.count()}",
        restricted_access_to_channels=False,
    )
    group.permissions.add(*permissions)
    group.user_set.add(user)


def _content(response):
    data = response.json()
    assert "errors" not in data, data
    return data["data"]


def test_full_coverage_completes_checkout_with_no_other_payment(
    shopper, shopper_checkout, customer_user, user_api_client
):
    # given
    account = fund(customer_user, "1000.00")
    total = checkout_total(shopper_checkout)

    # when
    applied = shopper.query(APPLY, {"id": gid("Checkout", shopper_checkout.pk)})
    completed = _content(
        user_api_client.post_graphql(COMPLETE, {"id": gid("Checkout", shopper_checkout.pk)})
    )["checkoutComplete"]

    # then
    credit_view = applied["data"]["checkoutStoreCreditApply"]["checkoutStoreCredit"]
    assert Decimal(str(credit_view["applied"]["amount"])) == total
    assert completed["errors"] == []
    assert completed["order"]["status"] == "UNFULFILLED"
    # the charge happens in order_confirmed, after the order-creation commit
    order = Order.objects.get()
    assert order.charge_status == OrderChargeStatus.FULL
    account.refresh_from_db()
    assert account.balance == Decimal("1000.00") - total
    assert account.held == 0
    entry = Entry.objects.get(account=account, kind="payment")
    assert entry.order_id == order.pk and entry.amount == total
    assert Hold.objects.get().status == HoldStatus.CAPTURED
    messages = [e.parameters.get("message", "") for e in order.events.all()]
    assert f"Store credit charged: {total} USD." in messages
    assert ledger_verify().ok


def test_partial_coverage_needs_another_payment_for_the_rest(
    shopper, shopper_checkout, customer_user, user_api_client,
    transaction_item_generator, transaction_events_generator,
):
    from saleor.payment.transaction_item_calculations import (
        recalculate_transaction_amounts,
    )

    account = fund(customer_user, "10.00")
    total = checkout_total(shopper_checkout)
    checkout_gid = gid("Checkout", shopper_checkout.pk)

    applied = shopper.query(APPLY, {"id": checkout_gid})["data"]["checkoutStoreCreditApply"]
    assert applied["checkoutStoreCredit"]["applied"]["amount"] == 10
    refused = _content(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    assert refused["checkoutComplete"]["errors"][0]["code"] == "CHECKOUT_NOT_FULLY_PAID"

    # another gateway pays the rest
    other = transaction_item_generator(checkout_id=shopper_checkout.pk)
    transaction_events_generator(
        transaction=other, psp_references=["card-1"],
        types=[TransactionEventType.CHARGE_SUCCESS], amounts=[total - Decimal("10.00")],
    )
    recalculate_transaction_amounts(other)
    recompute_checkout_payment_statuses(shopper_checkout)

    completed = _content(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    assert completed["checkoutComplete"]["errors"] == []
    assert Order.objects.get().charge_status == OrderChargeStatus.FULL
    account.refresh_from_db()
    assert account.balance == Decimal("0.00")
    assert ledger_verify().ok


def test_remove_releases_the_reservation_and_the_authorization(
    shopper, shopper_checkout, customer_user
):
    account = fund(customer_user, "50.00")
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid, "amount": "5.00"})

    removed = shopper.query(REMOVE, {"id": checkout_gid})["data"]["checkoutStoreCreditRemove"]

    assert removed["errors"] == []
    assert removed["checkoutStoreCredit"]["applied"] is None
    assert removed["checkoutStoreCredit"]["available"]["amount"] == 50
    account.refresh_from_db()
    assert account.held == 0
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    assert item.authorized_value == 0 and item.canceled_value == Decimal("5.00")
    shopper_checkout.refresh_from_db()
    assert shopper_checkout.authorize_status == CheckoutAuthorizeStatus.NONE


def test_reapplying_replaces_the_earlier_hold(shopper, shopper_checkout, customer_user):
    account = fund(customer_user, "50.00")
    checkout_gid = gid("Checkout", shopper_checkout.pk)

    shopper.query(APPLY, {"id": checkout_gid, "amount": "5.00"})
    again = shopper.query(APPLY, {"id": checkout_gid, "amount": "7.00"})

    view = again["data"]["checkoutStoreCreditApply"]["checkoutStoreCredit"]
    assert view["applied"]["amount"] == 7
    assert Hold.objects.filter(status=HoldStatus.ACTIVE).count() == 1
    account.refresh_from_db()
    assert account.held == Decimal("7.00")
    query = shopper.query(APPLIED, {"id": checkout_gid})["data"]["checkoutStoreCredit"]
    assert query == {"applied": {"amount": 7}, "available": {"amount": 43}}
    assert ledger_verify().ok


@pytest.mark.parametrize(
    ("amount", "code"),
    [("1000", "INVALID_AMOUNT"), ("0", "INVALID_AMOUNT"), ("1.001", "INVALID_AMOUNT"),
     ("40.00", "INSUFFICIENT_FUNDS")],
)
def test_apply_refuses_bad_amounts(shopper, shopper_checkout, customer_user, amount, code):
    fund(customer_user, "30.00")
    content = shopper.query(APPLY, {"id": gid("Checkout", shopper_checkout.pk), "amount": amount})
    assert content["data"]["checkoutStoreCreditApply"]["errors"][0]["code"] == code
    assert not Hold.objects.exists()
    assert not TransactionItem.objects.exists()


def test_only_the_checkouts_own_customer_may_apply(
    sc_client, shopper_checkout, customer_user, staff_user
):
    fund(customer_user, "30.00")
    fund(staff_user, "30.00")
    checkout_gid = gid("Checkout", shopper_checkout.pk)

    anonymous = sc_client().query(APPLY, {"id": checkout_gid})
    stranger = sc_client(user=staff_user).query(APPLY, {"id": checkout_gid})

    assert anonymous["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
    assert stranger["data"]["checkoutStoreCreditApply"]["errors"][0]["code"] == "NOT_FOUND"
    assert not Hold.objects.exists()


def test_locked_checkout_is_refused(shopper, shopper_checkout, customer_user):
    fund(customer_user, "30.00")
    shopper_checkout.completing_started_at = timezone.now()
    shopper_checkout.save(update_fields=["completing_started_at"])

    content = shopper.query(APPLY, {"id": gid("Checkout", shopper_checkout.pk)})

    assert content["data"]["checkoutStoreCreditApply"]["errors"][0]["code"] == "CHECKOUT_LOCKED"


def test_capture_runs_exactly_once_even_if_the_hook_runs_again(
    shopper, shopper_checkout, customer_user, user_api_client
):
    account = fund(customer_user, "1000.00")
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    _content(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    order = Order.objects.get()

    # when the hook fires again (e.g. a retried task or a second orderConfirm)
    assert payments.capture_for_order(order) == 0
    get_plugins_manager(allow_replica=False).order_confirmed(order)

    account.refresh_from_db()
    assert Entry.objects.filter(kind="payment").count() == 1
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    assert item.events.filter(type=TransactionEventType.CHARGE_SUCCESS).count() == 1
    assert ledger_verify().ok


def _unconfirmed_order_paid_by_credit(shopper, checkout, customer, user_api_client):
    """A channel that holds new orders for confirmation; the order's credit is reserved."""
    channel = checkout.channel
    channel.automatically_confirm_all_new_orders = False
    channel.save(update_fields=["automatically_confirm_all_new_orders"])
    account = fund(customer, "1000.00")
    checkout_gid = gid("Checkout", checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    _content(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    return account, Order.objects.get()


def test_unconfirmed_order_keeps_the_hold_until_confirmed(
    shopper, shopper_checkout, customer_user, user_api_client, staff_api_client,
    permission_manage_orders,
):
    account, order = _unconfirmed_order_paid_by_credit(
        shopper, shopper_checkout, customer_user, user_api_client
    )
    assert order.status == OrderStatus.UNCONFIRMED

    # the sweeper must not release an order's hold, even past its lifetime
    Hold.objects.update(expires_at=timezone.now() - timedelta(days=1))
    assert payments.release_abandoned_holds() == 0
    account.refresh_from_db()
    assert account.held > 0

    grant(staff_api_client.user, permission_manage_orders)
    confirmed = _content(
        staff_api_client.post_graphql(
            "mutation ($id: ID!) { orderConfirm(id: $id) { errors { code } } }",
            {"id": gid("Order", order.pk)},
        )
    )
    assert confirmed["orderConfirm"]["errors"] == []
    account.refresh_from_db()
    assert account.held == 0
    assert Entry.objects.filter(kind="payment", order_id=order.pk).count() == 1


def test_cancelling_an_unconfirmed_order_releases_the_credit(
    shopper, shopper_checkout, customer_user, user_api_client, staff_api_client,
    permission_manage_orders,
):
    account, order = _unconfirmed_order_paid_by_credit(
        shopper, shopper_checkout, customer_user, user_api_client
    )

    grant(staff_api_client.user, permission_manage_orders)
    _content(
        staff_api_client.post_graphql(
            "mutation ($id: ID!) { orderCancel(id: $id) { errors { code message } } }",
            {"id": gid("Order", order.pk)},
        )
    )

    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("1000.00"), Decimal("0"))
    assert Hold.objects.get().status == HoldStatus.RELEASED
    assert not Entry.objects.filter(kind="payment").exists()


def test_abandoned_checkout_hold_is_released_by_the_sweeper(
    shopper, shopper_checkout, customer_user
):
    account = fund(customer_user, "20.00")
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid, "amount": "20.00"})
    assert payments.release_abandoned_holds() == 0  # still within its lifetime

    Hold.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert payments.release_abandoned_holds() == 1

    account.refresh_from_db()
    assert account.held == 0
    assert Hold.objects.get().status == HoldStatus.EXPIRED
    shopper_checkout.refresh_from_db()
    assert shopper_checkout.authorize_status == CheckoutAuthorizeStatus.NONE


def test_deleted_checkout_hold_is_released_by_the_sweeper(
    shopper, shopper_checkout, customer_user
):
    account = fund(customer_user, "20.00")
    shopper.query(APPLY, {"id": gid("Checkout", shopper_checkout.pk), "amount": "3"})
    shopper_checkout.delete()  # TransactionItem.checkout is SET_NULL

    assert payments.release_abandoned_holds() == 1
    account.refresh_from_db()
    assert account.held == 0


def test_refund_returns_credit_exactly_once_and_never_more_than_captured(
    shopper, shopper_checkout, customer_user, user_api_client, staff_api_client,
    permission_manage_payments,
):
    account = fund(customer_user, "1000.00")
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    _content(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    captured = item.charged_value
    grant(staff_api_client.user, permission_manage_payments)
    item_gid = gid("TransactionItem", item.token)

    first = _content(staff_api_client.post_graphql(
        REQUEST_ACTION, {"id": item_gid, "type": "REFUND", "amount": "5.00"}))
    second = _content(staff_api_client.post_graphql(
        REQUEST_ACTION, {"id": item_gid, "type": "REFUND", "amount": "5.00"}))
    too_much = _content(staff_api_client.post_graphql(
        REQUEST_ACTION, {"id": item_gid, "type": "REFUND", "amount": str(captured)}))

    assert first["transactionRequestAction"]["errors"] == []
    assert second["transactionRequestAction"]["errors"] == []
    # then: Saleor caps the third request at what is still charged, so the total
    # comes to exactly the captured amount and the ledger agrees, once per request
    item.refresh_from_db()
    refunds = Entry.objects.filter(kind="refund")
    assert item.refunded_value == captured
    assert sum(e.amount for e in refunds) == captured
    assert refunds.count() == 3
    assert too_much["transactionRequestAction"]["errors"] == []
    account.refresh_from_db()
    assert account.balance == Decimal("1000.00")

    # and nothing more can be refunded
    again = _content(staff_api_client.post_graphql(
        REQUEST_ACTION, {"id": item_gid, "type": "REFUND", "amount": "1.00"}))
    account.refresh_from_db()
    assert account.balance == Decimal("1000.00")
    assert Entry.objects.filter(kind="refund").count() == 3
    assert again["transactionRequestAction"]["errors"] or item.refunded_value == captured
    order = Order.objects.get()
    assert order.charge_status == OrderChargeStatus.NONE
    refund_notes = [
        e for e in order.events.all()
        if e.parameters.get("message", "").startswith("Store credit refunded")
    ]
    assert len(refund_notes) == 3
    assert ledger_verify().ok


def test_payment_gateway_initialize_advertises_store_credit(
    store_credit_plugin, shopper_checkout, customer_user, user_api_client
):
    fund(customer_user, "12.34")
    content = _content(user_api_client.post_graphql(
        """mutation ($id: ID!) { paymentGatewayInitialize(id: $id) {
            gatewayConfigs { id data errors { code message } } errors { code } } }""",
        {"id": gid("Checkout", shopper_checkout.pk)},
    ))
    configs = {c["id"]: c for c in content["paymentGatewayInitialize"]["gatewayConfigs"]}
    store_credit = configs[payments.GATEWAY_ID]
    assert store_credit["errors"] == []
    assert store_credit["data"]["available"] == "12.34"
    assert store_credit["data"]["currency"] == "USD"
    assert store_credit["data"]["applied"] is None


@pytest.mark.django_db(transaction=True)
def test_two_checkouts_racing_for_one_balance_never_overspend(
    store_credit_plugin, checkout_ready_to_complete, customer_user, checkout_delivery,
):
    from saleor_store_credit.conf import StoreCreditSettings

    from .fixtures import clone_checkout

    first = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
    second = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
    account = fund(customer_user, "20.00")
    barrier = threading.Barrier(2)
    outcomes = []
    errors = []

    def apply(checkout):
        from django.db import connections

        # Saleor's test setup points the replica alias at the test DB only in the
        # main thread; share the default connection here.
        connections["replica"] = connections["default"]
        try:
            barrier.wait()
            payments.apply_to_checkout(
                checkout_token=checkout.pk, user=customer_user,
                manager=get_plugins_manager(allow_replica=False),
                settings=StoreCreditSettings(), amount="15.00",
            )
            outcomes.append("ok")
        except Exception as exc:  # asserted below
            outcomes.append(type(exc).__name__)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=apply, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["InsufficientFunds", "ok"], errors
    account = Account.objects.get(pk=account.pk)
    assert account.held == Decimal("15.00")
    assert ledger_verify().ok


def test_sweeper_task_runs_through_celery(shopper, shopper_checkout, customer_user):
    from saleor_store_credit.tasks import release_abandoned_store_credit_holds_task

    fund(customer_user, "20.00")
    shopper.query(APPLY, {"id": gid("Checkout", shopper_checkout.pk), "amount": "4"})
    Hold.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    result = release_abandoned_store_credit_holds_task.delay()

    assert result.get() == 1
    assert Hold.objects.get().status == HoldStatus.EXPIRED


@pytest.mark.django_db(transaction=True)
def test_concurrent_confirmations_capture_exactly_once(
    store_credit_plugin, shopper_checkout, customer_user, user_api_client, sc_client
):
    # given an UNCONFIRMED order paid with store credit, not yet captured
    channel = shopper_checkout.channel
    channel.automatically_confirm_all_new_orders = False
    channel.save(update_fields=["automatically_confirm_all_new_orders"])
    account = fund(customer_user, "1000.00")
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    sc_client(user=customer_user).query(APPLY, {"id": checkout_gid})
    user_api_client.post_graphql(COMPLETE, {"id": checkout_gid})
    order = Order.objects.get()
    barrier = threading.Barrier(4)
    results, errors = [], []

    def confirm():
        from django.db import connections

        connections["replica"] = connections["default"]
        try:
            barrier.wait()
            results.append(payments.capture_for_order(Order.objects.get(pk=order.pk)))
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            connection.close()

    # when four confirmations race
    threads = [threading.Thread(target=confirm) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # then exactly one charged
    assert errors == []
    assert sorted(results) == [0, 0, 0, 1]
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    assert item.events.filter(type=TransactionEventType.CHARGE_SUCCESS).count() == 1
    assert item.events.filter(type=TransactionEventType.CHARGE_REQUEST).count() == 1
    assert Entry.objects.filter(kind="payment").count() == 1
    account.refresh_from_db()
    assert account.held == 0
    assert ledger_verify().ok


def _paid_order(shopper, checkout, customer, user_api_client, amount=None):
    fund(customer, "1000.00")
    checkout_gid = gid("Checkout", checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid, **({"amount": amount} if amount else {})})
    _content(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    return Order.objects.get(), TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)


def test_staff_cancel_request_on_a_checkout_authorization_releases_the_hold(
    shopper, shopper_checkout, customer_user, staff_api_client, permission_manage_payments
):
    account = fund(customer_user, "30.00")
    shopper.query(APPLY, {"id": gid("Checkout", shopper_checkout.pk), "amount": "12.00"})
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    grant(staff_api_client.user, permission_manage_payments)

    content = _content(staff_api_client.post_graphql(
        REQUEST_ACTION, {"id": gid("TransactionItem", item.token), "type": "CANCEL"}))

    assert content["transactionRequestAction"]["errors"] == []
    item.refresh_from_db()
    assert item.authorized_value == 0
    assert item.events.filter(type=TransactionEventType.CANCEL_SUCCESS).count() == 1
    account.refresh_from_db()
    assert account.held == 0
    assert Hold.objects.get().status == HoldStatus.RELEASED


def test_granted_refund_on_the_store_credit_transaction_credits_the_balance_once(
    shopper, shopper_checkout, customer_user, user_api_client, staff_api_client,
    permission_manage_payments, permission_manage_orders,
):
    order, item = _paid_order(shopper, shopper_checkout, customer_user, user_api_client)
    grant(staff_api_client.user, permission_manage_payments, permission_manage_orders)
    captured = item.charged_value

    granted = _content(staff_api_client.post_graphql(
        """mutation ($id: ID!, $input: OrderGrantRefundCreateInput!) {
             orderGrantRefundCreate(id: $id, input: $input) {
               grantedRefund { id } errors { field code message } } }""",
        {"id": gid("Order", order.pk),
         "input": {"amount": "7.50", "reason": "damaged", "transactionId": gid("TransactionItem", item.token)}},
    ))["orderGrantRefundCreate"]
    assert granted["errors"] == []
    request = """mutation ($id: ID, $g: ID!) {
        transactionRequestRefundForGrantedRefund(id: $id, grantedRefundId: $g) {
          errors { field code message } } }"""
    variables = {"id": gid("TransactionItem", item.token), "g": granted["grantedRefund"]["id"]}
    first = _content(staff_api_client.post_graphql(request, variables))
    second = _content(staff_api_client.post_graphql(request, variables))

    assert first["transactionRequestRefundForGrantedRefund"]["errors"] == []
    assert second["transactionRequestRefundForGrantedRefund"]["errors"]  # already refunded
    assert Entry.objects.filter(kind="refund").count() == 1
    account = Account.objects.get(user=customer_user)
    assert account.balance == Decimal("1000.00") - captured + Decimal("7.50")
    refund = order.granted_refunds.get()
    assert refund.status == "success"
    assert ledger_verify().ok


@pytest.mark.parametrize("store_credit_config", [{"enabled_channels": "outlet"}])
def test_store_credit_only_pays_in_enabled_channels(
    shopper, shopper_checkout, customer_user, store_credit_config, user_api_client
):
    fund(customer_user, "30.00")

    content = shopper.query(APPLY, {"id": gid("Checkout", shopper_checkout.pk)})
    gateways = _content(user_api_client.post_graphql(
        "mutation ($id: ID!) { paymentGatewayInitialize(id: $id) { gatewayConfigs { id } } }",
        {"id": gid("Checkout", shopper_checkout.pk)},
    ))["paymentGatewayInitialize"]["gatewayConfigs"]

    assert content["data"]["checkoutStoreCreditApply"]["errors"][0]["code"] == "CHANNEL_NOT_ENABLED"
    assert payments.GATEWAY_ID not in [g["id"] for g in gateways]
    assert not Hold.objects.exists()


def test_gateway_lists_nothing_for_anonymous_shoppers(store_credit_plugin, checkout, api_client):
    # issue 18: guests get no entry (not an error), as for any unavailable gateway
    content = _content(api_client.post_graphql(
        """mutation ($id: ID!) { paymentGatewayInitialize(id: $id) {
            gatewayConfigs { id errors { message } } } }""",
        {"id": gid("Checkout", checkout.pk)},
    ))
    ids = [c["id"] for c in content["paymentGatewayInitialize"]["gatewayConfigs"]]
    assert payments.GATEWAY_ID not in ids


@pytest.mark.skipif(
    payments_compat.saleor_series() < (3, 22),
    reason="Saleor 3.21 cannot complete a checkout paid by gift card and a transaction: "
    "fetch_checkout_data (saleor/checkout/calculations.py) compares the transactions "
    "with the total before gift cards, so authorize status never becomes FULL "
    "(fixed in 3.22)",
)
def test_gift_card_and_store_credit_together_pay_the_checkout(
    shopper, shopper_checkout, customer_user, user_api_client, gift_card
):
    # given a gift card (Saleor's checkout gift cards) paying 10.00 of the checkout
    shopper_checkout.gift_cards.add(gift_card)
    total = checkout_total(shopper_checkout)  # what is left after the gift card
    account = fund(customer_user, str(total))
    checkout_gid = gid("Checkout", shopper_checkout.pk)

    # when store credit pays the rest and the shopper completes
    applied = shopper.query(APPLY, {"id": checkout_gid})["data"]["checkoutStoreCreditApply"]
    assert Decimal(str(applied["checkoutStoreCredit"]["applied"]["amount"])) == total
    completed = _content(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    # then the order exists, the card and the credit are both spent
    assert completed["checkoutComplete"]["errors"] == []
    gift_card.refresh_from_db()
    assert gift_card.current_balance_amount == 0
    account.refresh_from_db()
    assert account.balance == Decimal("0.00")
    assert ledger_verify().ok
