"""Issue 14.3: credit memos and every refund path Saleor offers. Across the Dashboard
refund (grant + refund request), `orderGrantRefundCreate`, `transactionRequestAction
REFUND` on any transaction and credit memos, an order never refunds more than it was
paid, and nothing already refunded by Saleor is credited again by a memo."""

from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from saleor.order.models import Order  # noqa: E402
from saleor.payment import TransactionEventType  # noqa: E402
from saleor.payment.models import TransactionItem  # noqa: E402

from saleor_store_credit.models import Account, CreditMemo  # noqa: E402

from .support import (  # noqa: E402
    CREDIT_MEMO,
    GRANT_REFUND,
    REFUND_GRANTED,
    REQUEST_ACTION,
    TRANSACTION_CREATE_CHARGED,
    assert_money_consistent,
    data,
    gid,
    our_item,
    payment_app_client,
)
from .test_checkout import APPLY, COMPLETE, checkout_total, fund, grant  # noqa: E402


@pytest.fixture
def staff(staff_api_client, permission_manage_payments, permission_manage_orders):
    grant(staff_api_client.user, permission_manage_payments, permission_manage_orders)
    return staff_api_client


@pytest.fixture
def memo_client(sc_client, staff):
    return sc_client(user=staff.user)


def _card_paid_order(checkout, user_api_client, permission, *, credit=None,
                     shopper=None):
    """Complete the checkout paid by a card app's charged transaction (and credit)."""
    checkout_gid = gid("Checkout", checkout.pk)
    total = checkout_total(checkout)
    if credit:
        shopper.query(APPLY, {"id": checkout_gid, "amount": str(credit)})
    card = data(payment_app_client(permission).post_graphql(TRANSACTION_CREATE_CHARGED, {
        "id": checkout_gid, "amount": str(total - (credit or 0)), "psp": "card-9"}))
    assert card["transactionCreate"]["errors"] == []
    completed = data(user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}))
    assert completed["checkoutComplete"]["errors"] == []
    order = Order.objects.get()
    card_item = order.payment_transactions.get(app__isnull=False)
    return order, card_item, total


def _memo(client, order, **input_):
    return client.query(CREDIT_MEMO, {
        "order": gid("Order", order.pk), "input": {"reason": "damaged", **input_}
    })["data"]["orderCreditMemoCreate"]


def test_after_a_memo_on_a_card_paid_order_the_card_cannot_be_refunded_again(
    shopper_checkout, customer_user, user_api_client,
    permission_manage_payments, staff, memo_client,
):
    order, card, total = _card_paid_order(
        shopper_checkout, user_api_client, permission_manage_payments)

    memo = _memo(memo_client, order, amount=str(total))
    assert memo["errors"] == []
    assert Account.objects.get(user=customer_user).balance == total

    # Saleor now sees the card payment as settled by the memo
    card.refresh_from_db()
    assert (card.charged_value, card.refunded_value) == (Decimal(0), total)
    # a granted refund on the card for the same money is refused by Saleor itself
    granted = data(staff.post_graphql(GRANT_REFUND, {"id": gid("Order", order.pk), "input": {
        "amount": str(total), "reason": "again", "transactionId": gid("TransactionItem", card.token)}}))
    assert granted["orderGrantRefundCreate"]["errors"]
    # a refund request on the card asks the app for nothing more than is left (0)
    before = set(card.events.values_list("pk", flat=True))
    data(staff.post_graphql(REQUEST_ACTION, {
        "id": gid("TransactionItem", card.token), "type": "REFUND", "amount": str(total)}))
    requested = card.events.filter(type=TransactionEventType.REFUND_REQUEST).exclude(
        pk__in=before)
    assert sum((e.amount_value for e in requested), Decimal(0)) == 0
    assert_money_consistent()


def test_a_memo_on_a_mixed_payment_settles_each_payment_once(
    sc_client, shopper_checkout, customer_user, user_api_client,
    permission_manage_payments, staff, memo_client,
):
    fund(customer_user, "10.00")
    order, card, total = _card_paid_order(
        shopper_checkout, user_api_client, permission_manage_payments,
        credit=Decimal("10.00"), shopper=sc_client(user=customer_user))

    memo = _memo(memo_client, order, amount=str(total))
    assert memo["errors"] == [], memo
    assert Decimal(str(memo["creditMemo"]["fromStoreCredit"]["amount"])) == Decimal("10.00")
    assert Account.objects.get(user=customer_user).balance == total

    # nothing is left to refund anywhere
    again = _memo(memo_client, order, amount="1.00")
    assert again["errors"][0]["code"] == "REFUND_EXCEEDS_PAID"
    for item in (card, our_item()):
        item.refresh_from_db()
        assert item.charged_value == 0
    refund = data(staff.post_graphql(REQUEST_ACTION, {
        "id": gid("TransactionItem", our_item().token), "type": "REFUND", "amount": "5.00"}))
    assert Account.objects.get(user=customer_user).balance == total
    del refund
    assert_money_consistent()


def test_a_line_refunded_by_saleor_cannot_be_credited_again_by_a_memo(
    shopper_checkout, user_api_client, permission_manage_payments, staff,
    memo_client,
):
    order, card, total = _card_paid_order(
        shopper_checkout, user_api_client, permission_manage_payments)
    line = order.lines.get()
    granted = data(staff.post_graphql(GRANT_REFUND, {"id": gid("Order", order.pk), "input": {
        "lines": [{"id": gid("OrderLine", line.pk), "quantity": line.quantity}],
        "reason": "returned", "transactionId": gid("TransactionItem", card.token)}}))
    assert granted["orderGrantRefundCreate"]["errors"] == []

    memo = _memo(memo_client, order, lines=[
        {"lineId": gid("OrderLine", line.pk), "quantity": 1}])

    assert memo["errors"] and memo["errors"][0]["field"] == "lines"
    assert not CreditMemo.objects.exists()
    assert_money_consistent()


def test_shipping_refunded_by_saleor_cannot_be_credited_again_by_a_memo(
    shopper_checkout, user_api_client, permission_manage_payments, staff,
    memo_client,
):
    order, card, total = _card_paid_order(
        shopper_checkout, user_api_client, permission_manage_payments)
    granted = data(staff.post_graphql(GRANT_REFUND, {"id": gid("Order", order.pk), "input": {
        "grantRefundForShipping": True, "reason": "late",
        "transactionId": gid("TransactionItem", card.token)}}))
    assert granted["orderGrantRefundCreate"]["errors"] == []

    memo = _memo(memo_client, order, includeShipping=True)

    assert memo["errors"] and memo["errors"][0]["field"] == "includeShipping"
    assert_money_consistent()


def test_a_line_credited_by_a_memo_cannot_be_granted_again_in_saleor(
    shopper_checkout, user_api_client, permission_manage_payments, staff,
    memo_client,
):
    order, card, total = _card_paid_order(
        shopper_checkout, user_api_client, permission_manage_payments)
    line = order.lines.get()
    assert _memo(memo_client, order, lines=[
        {"lineId": gid("OrderLine", line.pk), "quantity": line.quantity}])["errors"] == []

    granted = data(staff.post_graphql(GRANT_REFUND, {"id": gid("Order", order.pk), "input": {
        "lines": [{"id": gid("OrderLine", line.pk), "quantity": 1}],
        "reason": "again", "transactionId": gid("TransactionItem", card.token)}}))

    assert granted["orderGrantRefundCreate"]["errors"]
    assert_money_consistent()


def test_a_dashboard_refund_after_a_partial_memo_is_capped_by_what_is_left(
    shopper_checkout, user_api_client, permission_manage_payments, staff,
    memo_client,
):
    order, card, total = _card_paid_order(
        shopper_checkout, user_api_client, permission_manage_payments)
    assert _memo(memo_client, order, amount="15.00")["errors"] == []

    # the Dashboard's refund: a grant on the card, then the refund request for it
    too_much = data(staff.post_graphql(GRANT_REFUND, {"id": gid("Order", order.pk), "input": {
        "amount": str(total), "reason": "all", "transactionId": gid("TransactionItem", card.token)}}))
    assert too_much["orderGrantRefundCreate"]["errors"]
    left = total - Decimal("15.00")
    granted = data(staff.post_graphql(GRANT_REFUND, {"id": gid("Order", order.pk), "input": {
        "amount": str(left), "reason": "rest", "transactionId": gid("TransactionItem", card.token)}}))
    assert granted["orderGrantRefundCreate"]["errors"] == []
    data(staff.post_graphql(REFUND_GRANTED, {
        "id": gid("TransactionItem", card.token),
        "g": granted["orderGrantRefundCreate"]["grantedRefund"]["id"]}))

    # then a further memo finds nothing left
    assert _memo(memo_client, order, amount="0.01")["errors"][0]["code"] == "REFUND_EXCEEDS_PAID"
    # the memo was settled on the card itself: no separate memo transaction
    assert list(TransactionItem.objects.filter(order=order)) == [card]
    assert_money_consistent()
