"""Credit memos inside real Saleor: refund orders to store credit."""

import threading
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.db import connection  # noqa: E402

from saleor.order.models import Order  # noqa: E402
from saleor.payment import TransactionEventType  # noqa: E402
from saleor.payment.transaction_item_calculations import (  # noqa: E402
    recalculate_transaction_amounts,
)

from saleor_store_credit.conf import StoreCreditSettings  # noqa: E402
from saleor_store_credit.creditmemo import create_credit_memo  # noqa: E402
from saleor_store_credit.errors import StoreCreditError  # noqa: E402
from saleor_store_credit.ledger import Actor, ledger_verify  # noqa: E402
from saleor_store_credit.models import Account, CreditMemo, Entry  # noqa: E402

from .support import recompute_checkout_payment_statuses  # noqa: E402
from .test_checkout import APPLY, COMPLETE, _content, checkout_total, fund, gid, grant  # noqa: E402

MEMO = """
mutation ($order: ID!, $input: CreditMemoInput!, $key: String) {
  orderCreditMemoCreate(orderId: $order, input: $input, idempotencyKey: $key) {
    creditMemo { id amount { amount currency } fromStoreCredit { amount }
                 fromOtherMethods { amount } reason }
    errors { field code message }
  }
}
"""
ORDER = """
query ($id: ID!) { order(id: $id) {
  chargeStatus totalCharged { amount } totalRefunded { amount }
  grantedRefunds { amount { amount } status transaction { name } shippingCostsIncluded lines { quantity } }
} }
"""


@pytest.fixture
def place_order(sc_client, checkout_ready_to_complete, customer_user, user_api_client,
                transaction_item_generator, transaction_events_generator):
    """Place an order paid `store_credit` by store credit ("all": the whole total)
    and the rest by card."""

    def place(store_credit: str | None):
        checkout = checkout_ready_to_complete
        checkout.user = customer_user
        checkout.email = customer_user.email
        checkout.save(update_fields=["user", "email"])
        checkout_gid = gid("Checkout", checkout.pk)
        total = checkout_total(checkout)
        paid_by_credit = total if store_credit == "all" else Decimal(store_credit or "0")
        if store_credit:
            fund(customer_user, str(paid_by_credit))
            content = sc_client(user=customer_user).query(
                APPLY, {"id": checkout_gid, "amount": str(paid_by_credit)}
            )
            assert content["data"]["checkoutStoreCreditApply"]["errors"] == []
        if paid_by_credit < total:
            card = transaction_item_generator(checkout_id=checkout.pk)
            transaction_events_generator(
                transaction=card, psp_references=["card"],
                types=[TransactionEventType.CHARGE_SUCCESS],
                amounts=[total - paid_by_credit],
            )
            recalculate_transaction_amounts(card)
            recompute_checkout_payment_statuses(checkout)
        completed = _content(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
        assert completed["checkoutComplete"]["errors"] == []
        return Order.objects.get(), total

    return place


@pytest.fixture
def staff(sc_client, staff_user, permission_manage_orders, permission_manage_payments):
    grant(staff_user, permission_manage_orders, permission_manage_payments)
    return sc_client(user=staff_user)


def read_order(staff_api_client, order, permission_manage_orders):
    grant(staff_api_client.user, permission_manage_orders)
    return _content(staff_api_client.post_graphql(ORDER, {"id": gid("Order", order.pk)}))["order"]


def memo(client, order, key=None, **input):
    input.setdefault("reason", "damaged in transit")
    content = client.query(MEMO, {"order": gid("Order", order.pk), "input": input, "key": key})
    assert "errors" not in content, content
    return content["data"]["orderCreditMemoCreate"]


def balance(user):
    return Account.objects.get(user=user, currency="USD").balance


def test_lines_and_shipping_of_a_card_order_become_store_credit(
    place_order, staff, customer_user, staff_api_client, permission_manage_orders
):
    # given an order paid by card only
    order, total = place_order(None)
    line = order.lines.first()
    line_amount = line.unit_price_gross_amount * 1
    shipping = order.shipping_price_gross_amount

    # when one unit and the shipping are refunded to store credit
    result = memo(
        staff, order,
        lines=[{"lineId": gid("OrderLine", line.pk), "quantity": 1}],
        includeShipping=True,
    )

    # then
    assert result["errors"] == []
    expected = (line_amount + shipping).quantize(Decimal("0.01"))
    assert Decimal(str(result["creditMemo"]["amount"]["amount"])) == expected
    assert result["creditMemo"]["fromOtherMethods"]["amount"] == float(expected)
    assert balance(customer_user) == expected
    assert Entry.objects.get().kind == "credit_memo"
    # and Saleor's own order API reads right
    view = read_order(staff_api_client, order, permission_manage_orders)
    assert Decimal(str(view["totalRefunded"]["amount"])) == expected
    assert view["chargeStatus"] == "FULL"
    granted = view["grantedRefunds"][0]
    assert granted["status"] == "SUCCESS"
    # the memo settles on the card's own transaction, so the card cannot be refunded again
    assert granted["transaction"]["name"] == "Credit card"
    assert granted["shippingCostsIncluded"] is True
    assert granted["lines"] == [{"quantity": 1}]
    messages = [e.parameters.get("message", "") for e in order.events.all()]
    assert any(m.startswith("Credit memo:") for m in messages)
    assert ledger_verify().ok


def test_store_credit_paid_part_goes_back_through_the_store_credit_transaction(
    place_order, staff, customer_user, staff_api_client, permission_manage_orders
):
    # given 5.00 paid by store credit and the rest by card
    order, total = place_order("5.00")
    assert balance(customer_user) == Decimal("0.00")

    # when 8.00 is credited
    result = memo(staff, order, amount="8.00")

    # then 5.00 comes back through the store-credit payment, 3.00 from the card part
    memo_view = result["creditMemo"]
    assert memo_view["fromStoreCredit"]["amount"] == 5
    assert memo_view["fromOtherMethods"]["amount"] == 3
    assert balance(customer_user) == Decimal("8.00")
    kinds = sorted(Entry.objects.filter(kind__in=["refund", "credit_memo"]).values_list("kind", flat=True))
    assert kinds == ["credit_memo", "refund"]
    view = read_order(staff_api_client, order, permission_manage_orders)
    assert Decimal(str(view["totalRefunded"]["amount"])) == Decimal("8.00")
    assert {g["status"] for g in view["grantedRefunds"]} == {"SUCCESS"}
    assert view["chargeStatus"] == "FULL"
    assert ledger_verify().ok


def test_whole_order_paid_by_store_credit_can_be_credited_back(
    place_order, staff, customer_user, staff_api_client, permission_manage_orders
):
    order, total = place_order("all")
    spent_balance = balance(customer_user)

    result = memo(staff, order, amount=str(total))

    assert result["errors"] == []
    assert result["creditMemo"]["fromStoreCredit"]["amount"] == float(total)
    assert spent_balance == 0
    assert balance(customer_user) == total
    view = read_order(staff_api_client, order, permission_manage_orders)
    assert Decimal(str(view["totalRefunded"]["amount"])) == total
    assert Decimal(str(view["totalCharged"]["amount"])) == 0


def test_more_than_paid_and_not_refunded_is_refused(place_order, staff, customer_user):
    order, total = place_order(None)
    first = memo(staff, order, amount=str(total - Decimal("1.00")))
    assert first["errors"] == []

    over = memo(staff, order, amount="1.01")

    assert over["errors"][0]["code"] == "REFUND_EXCEEDS_PAID"
    assert "1.00 USD" in over["errors"][0]["message"]
    assert CreditMemo.objects.count() == 1
    assert balance(customer_user) == total - Decimal("1.00")


def test_lines_cannot_be_credited_beyond_their_quantity(place_order, staff):
    order, _ = place_order(None)
    line = order.lines.first()
    line_gid = gid("OrderLine", line.pk)

    ok = memo(staff, order, lines=[{"lineId": line_gid, "quantity": line.quantity}])
    again = memo(staff, order, lines=[{"lineId": line_gid, "quantity": 1}])

    assert ok["errors"] == []
    assert again["errors"][0]["field"] == "lines"
    assert "at most 0 more" in again["errors"][0]["message"]


def test_shipping_is_credited_once(place_order, staff):
    order, _ = place_order(None)
    assert memo(staff, order, includeShipping=True)["errors"] == []
    again = memo(staff, order, includeShipping=True)
    assert again["errors"][0]["field"] == "includeShipping"


def test_idempotent_replay_returns_the_first_memo(place_order, staff, customer_user):
    order, _ = place_order(None)
    first = memo(staff, order, key="memo-1", amount="2.00")
    again = memo(staff, order, key="memo-1", amount="2.00")
    assert again["creditMemo"]["id"] == first["creditMemo"]["id"]
    assert CreditMemo.objects.count() == 1
    assert balance(customer_user) == Decimal("2.00")


def test_guest_orders_are_refused(place_order, staff):
    order, _ = place_order(None)
    Order.objects.filter(pk=order.pk).update(user=None)
    result = memo(staff, order, amount="1.00")
    assert result["errors"][0]["code"] == "GUEST_ORDER"
    assert not CreditMemo.objects.exists()


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("customer", False), ("staff_none", False), ("manage_orders", False),
     ("handle_payments", False), ("manage_orders+handle_payments", True)],
)
def test_credit_memo_permissions(
    place_order, sc_client, customer_user, staff_user, permission_manage_orders,
    permission_manage_payments, who, allowed,
):
    order, _ = place_order(None)
    if who == "customer":
        client = sc_client(user=customer_user)
    else:
        # a memo moves money: MANAGE_ORDERS and HANDLE_PAYMENTS (permissions.MATRIX)
        if "manage_orders" in who:
            grant(staff_user, permission_manage_orders)
        if "handle_payments" in who:
            grant(staff_user, permission_manage_payments)
        client = sc_client(user=staff_user)

    content = client.query(
        MEMO, {"order": gid("Order", order.pk), "input": {"amount": "1", "reason": "x"}}
    )

    if allowed:
        assert content["data"]["orderCreditMemoCreate"]["errors"] == []
    else:
        assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
        assert not CreditMemo.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_racing_credit_memos_cannot_together_exceed_what_was_paid(
    store_credit_plugin, place_order, customer_user
):
    order, total = place_order(None)
    share = (total * Decimal("0.6")).quantize(Decimal("0.01"))
    barrier = threading.Barrier(2)
    outcomes = []

    def run():
        from django.db import connections

        connections["replica"] = connections["default"]
        try:
            barrier.wait()
            create_credit_memo(
                order_id=order.pk, actor=Actor.system(), settings=StoreCreditSettings(),
                reason="race", amount=str(share),
            )
            outcomes.append("ok")
        except StoreCreditError as exc:
            outcomes.append(exc.code.value)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["ok", "refund_exceeds_paid"]
    assert balance(customer_user) == share
    assert ledger_verify().ok


@pytest.mark.parametrize("store_credit_config", [{"refund_to_store_credit_by_default": True}])
def test_staff_screens_read_the_refund_default(staff, sc_client, customer_user, store_credit_config):
    query = "{ storeCreditSettings { refundToStoreCreditByDefault holdLifetimeMinutes } }"
    assert staff.query(query)["data"]["storeCreditSettings"] == {
        "refundToStoreCreditByDefault": True, "holdLifetimeMinutes": 1440,
    }
    denied = sc_client(user=customer_user).query(query)
    assert denied["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"


def test_customer_e_mail_of_a_credit_memo_is_logged(place_order, staff, customer_user):
    """The e-mail itself is received over SMTP in tests/integration/test_emails.py;
    without an SMTP server configured it is logged as skipped."""
    from saleor_store_credit.models import EmailDelivery

    order, _ = place_order(None)

    memo(staff, order, amount="2.50")

    [row] = EmailDelivery.objects.all()
    assert (row.event, row.recipient, row.status) == (
        "credit_memo_issued", customer_user.email, "skipped")
    assert row.context["amount"] == "2.50" and row.context["order_number"] == order.number
