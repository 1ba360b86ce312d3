"""Issue 14.4: Remove / re-apply racing `checkoutComplete`. Saleor's transaction flow
checks the authorization before it locks the checkout and never re-checks it, so a
Remove that lands in between must either be refused or make completion fail cleanly:
never an order that lost its credit.

The interleavings are forced with Saleor's own race helper
(`saleor/tests/race_condition.py`), which runs a callback just before a Saleor
function and then the function itself."""

import threading
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.db import connection  # noqa: E402

from saleor.order.models import Order  # noqa: E402
from saleor.tests.race_condition import RunBefore  # noqa: E402

from saleor_store_credit.models import Account, Hold, HoldStatus  # noqa: E402

from .support import assert_money_consistent, data, gid, our_item  # noqa: E402
from .test_checkout import APPLY, COMPLETE, REMOVE, checkout_total, fund  # noqa: E402

CREATE_ORDER = "saleor.checkout.complete_checkout.create_order_from_checkout"
PREPROCESS = "saleor.plugins.manager.PluginsManager.preprocess_order_creation"


def _remove_in_another_connection(shopper, checkout_gid):
    """The shopper's Remove from a second tab: its own thread and DB connection."""
    outcome = {}

    def run():
        from django.db import connections

        connections["replica"] = connections["default"]
        try:
            outcome["response"] = shopper.query(REMOVE, {"id": checkout_gid})
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    return outcome["response"]["data"]["checkoutStoreCreditRemove"]


@pytest.mark.django_db(transaction=True)
def test_remove_after_saleor_checked_the_authorization_makes_completion_fail_cleanly(
    store_credit_plugin, sc_client, shopper_checkout, customer_user, user_api_client
):
    # given the checkout fully covered by store credit
    account = fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    removed = {}

    # when Remove commits after Saleor read the FULL authorization, before the plugin's gate
    def remove(*_args, **_kwargs):
        removed.update(_remove_in_another_connection(shopper, checkout_gid))

    with RunBefore(PREPROCESS, remove):
        completed = data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    # then the Remove went through and completion was refused: no order without credit
    assert removed["errors"] == []
    assert completed["checkoutComplete"]["order"] is None
    assert completed["checkoutComplete"]["errors"][0]["code"] == "CHECKOUT_NOT_FULLY_PAID"
    assert not Order.objects.exists()
    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("1000.00"), Decimal(0))
    assert_money_consistent()


@pytest.mark.django_db(transaction=True)
def test_remove_while_the_order_is_being_created_is_refused(
    store_credit_plugin, sc_client, shopper_checkout, customer_user, user_api_client
):
    account = fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    total = checkout_total(shopper_checkout)
    shopper.query(APPLY, {"id": checkout_gid})
    removed = {}

    # when Remove arrives after the gate, just before Saleor creates the order
    def remove(*_args, **_kwargs):
        removed.update(_remove_in_another_connection(shopper, checkout_gid))

    with RunBefore(CREATE_ORDER, remove):
        completed = data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    # then Remove is refused and the order is paid by the credit
    assert [e["code"] for e in removed["errors"]] == ["CHECKOUT_LOCKED"]
    assert completed["checkoutComplete"]["errors"] == []
    order = Order.objects.get()
    assert our_item().charged_value == total == order.total_gross_amount
    account.refresh_from_db()
    assert account.balance == Decimal("1000.00") - total
    assert_money_consistent()


@pytest.mark.django_db(transaction=True)
def test_reapply_of_a_smaller_amount_during_completion_is_refused(
    store_credit_plugin, sc_client, shopper_checkout, customer_user, user_api_client
):
    fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    total = checkout_total(shopper_checkout)
    shopper.query(APPLY, {"id": checkout_gid})
    outcome = {}

    def reapply(*_args, **_kwargs):
        def run():
            from django.db import connections

            connections["replica"] = connections["default"]
            try:
                outcome["r"] = shopper.query(APPLY, {"id": checkout_gid, "amount": "1.00"})
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(60)

    with RunBefore(CREATE_ORDER, reapply):
        completed = data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    errors = outcome["r"]["data"]["checkoutStoreCreditApply"]["errors"]
    assert [e["code"] for e in errors] == ["CHECKOUT_LOCKED"]
    assert completed["checkoutComplete"]["errors"] == []
    assert our_item().charged_value == total
    assert Hold.objects.filter(status=HoldStatus.ACTIVE).count() == 0
    assert Account.objects.get(user=customer_user).held == 0
    assert_money_consistent()


def test_remove_after_the_order_exists_is_refused(
    sc_client, shopper_checkout, customer_user, user_api_client
):
    fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))

    removed = shopper.query(REMOVE, {"id": checkout_gid})["data"]["checkoutStoreCreditRemove"]

    assert removed["errors"][0]["code"] == "NOT_FOUND"
    assert our_item().charged_value > 0
    assert_money_consistent()


def _wait_for_a_lock_wait(seconds=20.0) -> bool:
    """True once another backend of this database waits on a lock (pg_stat_activity;
    its snapshot is cleared each time, as this runs inside the caller's transaction)."""
    import time

    from django.db import connections

    deadline = time.monotonic() + seconds
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_completion_meeting_a_remove_in_flight_waits_for_it_and_fails_cleanly(
    store_credit_plugin, sc_client, shopper_checkout, customer_user, user_api_client
):
    # given the checkout covered by store credit, and the shopper's Remove holding its
    # locks (paused just before it releases the hold)
    account = fund(customer_user, "1000.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    outcome = {}

    def complete():
        from django.db import connections

        from saleor.core.db.connection import allow_writer

        # a connection of its own (the thread would otherwise share the test's)
        connections["default"] = connections.create_connection("default")
        connections["replica"] = connections["default"]
        try:
            with allow_writer():
                outcome["completed"] = data(
                    user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
        finally:
            connection.close()

    completing = threading.Thread(target=complete)

    # when checkoutComplete starts in another process meanwhile and reaches a lock
    def while_remove_holds_its_locks(*_args, **_kwargs):
        completing.start()
        outcome["waited"] = _wait_for_a_lock_wait()

    with RunBefore("saleor_store_credit.checkout.apply.release_hold",
                   while_remove_holds_its_locks):
        removed = shopper.query(REMOVE, {"id": checkout_gid})
    completing.join(60)

    # then it waited for the Remove, saw it, and placed no order without the credit
    assert outcome["waited"]
    assert removed["data"]["checkoutStoreCreditRemove"]["errors"] == []
    result = outcome["completed"]["checkoutComplete"]
    assert result["order"] is None
    assert result["errors"][0]["code"] == "CHECKOUT_NOT_FULLY_PAID"
    assert not Order.objects.exists()
    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("1000.00"), Decimal(0))
    assert_money_consistent()
