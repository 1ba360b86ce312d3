"""Issue 20 (items 1, 2): checkout at the cost of a plain payment. The shopper's
`checkoutComplete` leaves the capture to a Celery worker after the commit (as a
payment app charges after Saleor's request), and a shop whose shoppers pay by a card
that charged the whole checkout runs none of the plugin's statements at completion."""

from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from celery import signals  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from saleor.order import OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.payment import TransactionEventType  # noqa: E402

from saleor_store_credit import checkout as payments  # noqa: E402
from saleor_store_credit.models import Account, Entry, Hold, HoldStatus  # noqa: E402
from saleor_store_credit.tasks import capture_store_credit_task  # noqa: E402

from .support import (  # noqa: E402
    TRANSACTION_CREATE,
    TRANSACTION_CREATE_CHARGED,
    assert_money_consistent,
    data,
    gid,
    our_item,
    payment_app_client,
)
from .test_checkout import APPLY, COMPLETE, checkout_total, fund  # noqa: E402


@pytest.fixture
def shopper(sc_client, customer_user):
    return sc_client(user=customer_user)


class TasksRun:
    """The Celery tasks run while the block runs (Saleor's test settings run them
    inline, eagerly), with whether the store credit was charged when each started."""

    def __init__(self):
        self.names = []

    def __enter__(self):
        signals.task_prerun.connect(self._started, weak=False)
        return self

    def __exit__(self, *exc):
        signals.task_prerun.disconnect(self._started)

    def _started(self, task=None, **_kwargs):
        charged = Entry.objects.filter(kind="payment").exists()
        self.names.append((task.name, charged))


def _plugin_statements(queries) -> list[str]:
    """The captured statements that are the plugin's: its tables or its gateway id."""
    return [q["sql"] for q in queries.captured_queries
            if "saleor_store_credit" in q["sql"] or "saleor-store-credit" in q["sql"]]


def _paid_by_card(checkout, permission_manage_payments, *, charged: bool, amount=None):
    card = payment_app_client(permission_manage_payments)
    amount = checkout_total(checkout) if amount is None else amount
    result = data(card.post_graphql(
        TRANSACTION_CREATE_CHARGED if charged else TRANSACTION_CREATE,
        {"id": gid("Checkout", checkout.pk), "amount": str(amount),
         "psp": "card-1"}))["transactionCreate"]
    assert result["errors"] == []


def test_checkout_complete_leaves_the_capture_to_a_task_after_the_commit(
    shopper, shopper_checkout, customer_user, user_api_client
):
    # given a checkout fully covered by store credit
    account = fund(customer_user, "1000.00")
    total = checkout_total(shopper_checkout)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})

    # when the shopper completes it
    with TasksRun() as tasks:
        completed = data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    # then the order was placed before anything was charged, and the capture task
    # charged it once, after the order's commit
    assert completed["checkoutComplete"]["errors"] == []
    assert (capture_store_credit_task.name, False) in tasks.names
    assert our_item().charged_value == total
    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("1000.00") - total, Decimal(0))
    assert Entry.objects.filter(kind="payment").count() == 1
    assert_money_consistent()


def test_checkout_complete_paid_by_a_card_that_charged_everything_runs_no_statement_of_ours(
    store_credit_plugin, shopper_checkout, user_api_client, permission_manage_payments
):
    # given a shopper without store credit whose card charged the whole checkout
    _paid_by_card(shopper_checkout, permission_manage_payments, charged=True)

    # when
    with CaptureQueriesContext(connection) as queries:
        completed = data(user_api_client.post_graphql(
            COMPLETE, {"id": gid("Checkout", shopper_checkout.pk)}))

    # then the order is placed and the plugin ran no statement
    assert completed["checkoutComplete"]["errors"] == []
    assert Order.objects.get().status == OrderStatus.UNFULFILLED
    assert _plugin_statements(queries) == []


def test_checkout_complete_paid_by_an_authorized_card_runs_only_the_gate(
    store_credit_plugin, shopper_checkout, user_api_client, permission_manage_payments
):
    # given a shopper without store credit whose card only authorized the checkout
    _paid_by_card(shopper_checkout, permission_manage_payments, charged=False)

    # when
    with CaptureQueriesContext(connection) as queries, TasksRun() as tasks:
        completed = data(user_api_client.post_graphql(
            COMPLETE, {"id": gid("Checkout", shopper_checkout.pk)}))

    # then one statement of ours (one look for both completion gates, store credit
    # and pay on account, finding neither) and no capture task: the confirmation
    # reuses what the gate saw
    assert completed["checkoutComplete"]["errors"] == []
    statements = _plugin_statements(queries)
    assert len(statements) == 1, statements
    assert "payment_transactionitem" in statements[0]
    assert capture_store_credit_task.name not in [name for name, _ in tasks.names]


def test_credit_next_to_a_card_that_charged_everything_is_released_at_confirmation(
    shopper, shopper_checkout, customer_user, user_api_client, permission_manage_payments
):
    # given store credit applied, then a card that charged the whole checkout anyway
    account = fund(customer_user, "1000.00")
    total = checkout_total(shopper_checkout)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid, "amount": "5.00"})
    _paid_by_card(shopper_checkout, permission_manage_payments, charged=True, amount=total)

    # when the checkout completes (the gate has nothing to protect: charges cover it)
    completed = data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    # then the order needs none of the credit: released, nothing charged
    assert completed["checkoutComplete"]["errors"] == []
    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("1000.00"), Decimal(0))
    assert not Hold.objects.filter(status=HoldStatus.ACTIVE).exists()
    assert our_item().authorized_value == 0
    assert not Entry.objects.filter(kind="payment").exists()
    assert_money_consistent()


def _unconfirmed_order_paid_by_credit(shopper, checkout, customer, user_api_client):
    channel = checkout.channel
    channel.automatically_confirm_all_new_orders = False
    channel.save(update_fields=["automatically_confirm_all_new_orders"])
    fund(customer, "1000.00")
    checkout_gid = gid("Checkout", checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    order = Order.objects.get()
    assert order.status == OrderStatus.UNCONFIRMED
    return order


def test_a_capture_task_running_after_the_order_ended_releases_instead(
    shopper, shopper_checkout, customer_user, user_api_client
):
    # given an order whose capture task is late: the order was cancelled meanwhile
    # (here without Saleor's cancellation hooks, as when the plugin was switched off)
    order = _unconfirmed_order_paid_by_credit(
        shopper, shopper_checkout, customer_user, user_api_client)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELED)

    # when the task runs
    capture_store_credit_task.delay(str(order.pk))

    # then nothing is charged and the reservation is released
    account = Account.objects.get(user=customer_user)
    assert (account.balance, account.held) == (Decimal("1000.00"), Decimal(0))
    assert not Entry.objects.filter(kind="payment").exists()
    assert our_item().events.filter(type=TransactionEventType.CANCEL_SUCCESS).exists()
    assert_money_consistent()


def test_a_capture_task_for_an_order_still_unconfirmed_leaves_the_reservation(
    shopper, shopper_checkout, customer_user, user_api_client
):
    order = _unconfirmed_order_paid_by_credit(
        shopper, shopper_checkout, customer_user, user_api_client)

    capture_store_credit_task.delay(str(order.pk))

    account = Account.objects.get(user=customer_user)
    assert account.held == order.total_gross_amount
    assert not Entry.objects.filter(kind="payment").exists()
    assert payments.may_need_capture(order) is True
    assert_money_consistent()


@pytest.mark.django_db(transaction=True)
def test_a_native_reapply_refused_by_the_ledger_keeps_the_earlier_reservation(
    store_credit_plugin, shopper_checkout, customer_user, user_api_client
):
    """Saleor's path takes no savepoint of its own (`apply.apply_to_checkout`): a new
    hold the ledger refuses after the earlier one was released must leave the earlier
    one in place, and Saleor's transaction usable for its own answer."""
    import threading

    from saleor.app.models import App
    from saleor.tests.race_condition import RunBefore

    from saleor_store_credit.ledger import Actor, debit

    from .test_native_checkout import initialize

    App.objects.create(name="Store credit", identifier=payments.GATEWAY_ID, is_active=True)
    account = fund(customer_user, "50.00")
    first = initialize(user_api_client, shopper_checkout, {"amount": "20.00"})
    assert first["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"

    def spend_elsewhere(*_args, **_kwargs):
        # the customer spends 25.00 elsewhere meanwhile (another connection)
        def run():
            try:
                debit(account=account.pk, amount="25.00", kind="adjustment",
                      actor=Actor.system())
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(30)

    # when the shopper asks for 30.00 instead: 50 - 25 spent leaves 25 for the new hold
    with RunBefore("saleor_store_credit.checkout.apply.release_checkout_hold",
                   spend_elsewhere):
        second = initialize(user_api_client, shopper_checkout, {"amount": "30.00"})

    # then refused, and the first reservation is still the one in place
    assert second["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
    assert second["errors"] == []
    hold = Hold.objects.get(status=HoldStatus.ACTIVE)
    assert hold.amount == Decimal("20.00")
    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("25.00"), Decimal("20.00"))
    assert our_item(token=hold.transaction_id).authorized_value == Decimal("20.00")
    assert_money_consistent()
