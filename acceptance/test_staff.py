"""Staff, over HTTP: refunds exactly once, credit memos, gift cards turned into balance,
B2B orders held and released, balance e-mails in the customer's language."""

import threading
import time
from decimal import Decimal

import pytest

from .conftest import (
    card_pays,
    complete,
    db_id,
    grant,
    money,
    signature_is_valid,
    store_credit_transaction,
    text_of,
)
from .test_storefront import apply


def _paid_by_credit(saleor, shopper, extra="0"):
    checkout_id, total = shopper.checkout()
    grant(saleor, shopper, total + Decimal(extra))
    assert apply(saleor, shopper, checkout_id)["errors"] == []
    order = complete(saleor, shopper, checkout_id)
    assert order["errors"] == [], order
    return order["order"], total


def _paid_by_card(saleor, shopper):
    checkout_id, total = shopper.checkout()
    card_pays(saleor, checkout_id, total)
    order = complete(saleor, shopper, checkout_id)
    assert order["errors"] == [], order
    return order["order"], total


REFUND = """mutation ($id: ID!, $amount: PositiveDecimal!) { transactionRequestAction(id: $id,
  actionType: REFUND, amount: $amount) { transaction { refundedAmount { amount } }
  errors { field code message } } }"""


def test_a_refund_requested_twice_at_once_is_paid_back_once(saleor, people):
    # given an order paid by store credit
    shopper = people.shopper()
    order, total = _paid_by_credit(saleor, shopper)
    tx = store_credit_transaction(saleor, order_id=order["id"])
    results = [None, None]
    barrier = threading.Barrier(2)

    def refund(i):
        barrier.wait()
        results[i] = saleor.saleor(REFUND, {"id": tx["id"], "amount": str(total)},
                                   token=saleor.staff_token)

    # when staff (two Dashboard tabs) refund the whole payment at the same moment
    threads = [threading.Thread(target=refund, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then the customer gets the total back once, and Saleor shows one refund
    assert all("data" in r for r in results), results
    assert shopper.account()["balance"] == total
    after = store_credit_transaction(saleor, order_id=order["id"])
    assert (after["refunded"], after["charged"]) == (total, 0), after
    # and a third request for more than is left changes nothing
    again = saleor.saleor(REFUND, {"id": tx["id"], "amount": "1.00"}, token=saleor.staff_token)
    assert "data" in again, again
    assert shopper.account()["balance"] == total
    assert store_credit_transaction(saleor, order_id=order["id"])["refunded"] == total


MEMO = """mutation ($order: ID!, $amount: Decimal, $key: String) {
  orderCreditMemoCreate(orderId: $order, idempotencyKey: $key,
  input: {amount: $amount, reason: "Damaged in transit"}) {
  creditMemo { id amount { amount } } errors { field code message } } }"""


@pytest.mark.parametrize("language,phrase", [("en", "refunded"), ("nl", "teruggestort"),
                                             ("sv", "återbetalt")])
def test_a_credit_memo_credits_once_and_the_customer_is_told_in_their_language(
        saleor, people, mailbox, webhooks, language, phrase):
    # given a card-paid order of a customer who reads `language`
    shopper = people.shopper(language)
    order, total = _paid_by_card(saleor, shopper)
    key = f"memo-{order['id']}"
    # when staff refund 2.50 of it to store credit, and the request is sent twice
    first = saleor.store_credit(MEMO, {"order": order["id"], "amount": "2.50", "key": key},
                                token=saleor.staff_token)["data"]["orderCreditMemoCreate"]
    second = saleor.store_credit(MEMO, {"order": order["id"], "amount": "2.50", "key": key},
                                 token=saleor.staff_token)["data"]["orderCreditMemoCreate"]
    # then one memo, 2.50 on the balance, one e-mail in their language, one signed webhook
    assert first["errors"] == [] and second["errors"] == [], (first, second)
    assert first["creditMemo"]["id"] == second["creditMemo"]["id"]
    assert shopper.account()["balance"] == Decimal("2.50")
    message = mailbox.wait(shopper.email, containing=phrase)
    assert ("2.50" if language == "en" else "2,50") in str(message["Subject"])
    assert str(order["number"]) in str(message["Subject"])
    assert message.get_body(preferencelist=("html",)) is not None
    [hook] = webhooks.wait("store_credit.credit_memo_issued",
                           lambda p: p["data"].get("order_id") == db_id(order["id"]))
    assert signature_is_valid(hook)
    time.sleep(2)
    assert len([m for m in mailbox.to(shopper.email) if phrase in text_of(m)
                or phrase in str(m["Subject"])]) == 1


GIFT_CARD = """mutation ($amount: PositiveDecimal!) { giftCardCreate(input: {
  balance: {amount: $amount, currency: "USD"}, isActive: true}) {
  giftCard { id code } errors { field code message } } }"""
REDEEM = """mutation ($code: String!) { giftCardRedeemToStoreCredit(code: $code) {
  errors { field code message } } }"""


def test_a_gift_card_becomes_balance_once(saleor, people):
    # given a gift card of 7.25 made in the Dashboard
    card = saleor.saleor(GIFT_CARD, {"amount": "7.25"}, token=saleor.staff_token)
    card = card["data"]["giftCardCreate"]
    assert card["errors"] == [], card
    shopper, thief = people.shopper(), people.shopper()
    # when the shopper turns it into store credit, and then both try again
    first = saleor.store_credit(REDEEM, {"code": card["giftCard"]["code"]},
                                token=shopper.token)["data"]["giftCardRedeemToStoreCredit"]
    again = saleor.store_credit(REDEEM, {"code": card["giftCard"]["code"]},
                                token=shopper.token)["data"]["giftCardRedeemToStoreCredit"]
    stolen = saleor.store_credit(REDEEM, {"code": card["giftCard"]["code"]},
                                 token=thief.token)["data"]["giftCardRedeemToStoreCredit"]
    # then 7.25 is on the shopper's balance, the card is empty, the retries are refused
    assert first["errors"] == [], first
    assert again["errors"] and stolen["errors"], (again, stolen)
    assert {again["errors"][0]["code"], stolen["errors"][0]["code"]} <= {
        "INVALID_GIFT_CARD", "IDEMPOTENCY_KEY_REUSED"}
    assert shopper.account()["balance"] == Decimal("7.25")
    assert thief.account()["balance"] == 0
    left = saleor.saleor("query ($id: ID!) { giftCard(id: $id) { currentBalance { amount } } }",
                         {"id": card["giftCard"]["id"]}, token=saleor.staff_token)
    assert money(left["data"]["giftCard"]["currentBalance"]["amount"]) == 0


def test_an_order_of_a_customer_on_hold_waits_for_staff_and_both_steps_are_emailed(
        saleor, people, mailbox, webhooks):
    # given a B2B customer whose account staff put on hold
    shopper = people.shopper("nl")
    put = saleor.store_credit(
        """mutation ($id: ID!) { customerCreditProfileUpdate(customerId: $id, currency: "USD",
           onHold: true, onHoldReason: "Invoice 4411 overdue") { errors { message } } }""",
        {"id": shopper.id}, token=saleor.staff_token)
    assert put["data"]["customerCreditProfileUpdate"]["errors"] == [], put
    # when they place an order on account
    checkout_id, _total = shopper.checkout()
    order = complete(saleor, shopper, checkout_id)
    assert order["errors"] == [], order
    order = order["order"]
    # then it waits, unconfirmed, and the customer is told (in Dutch, without the reason)
    assert order["status"] == "UNCONFIRMED"
    held = mailbox.wait(shopper.email, containing="wordt beoordeeld")
    assert "4411" not in text_of(held)
    [hook] = webhooks.wait("store_credit.order_held",
                           lambda p: p["data"].get("order_id") == db_id(order["id"]))
    assert signature_is_valid(hook)
    # when staff release it
    released = saleor.store_credit(
        """mutation ($id: ID!) { orderCreditHoldRelease(id: $id, reason: "Paid by wire") {
           errors { field code message } } }""", {"id": order["id"]},
        token=saleor.staff_token)["data"]["orderCreditHoldRelease"]
    assert released["errors"] == [], released
    # then the order is confirmed and the customer is told
    status = saleor.saleor("query ($id: ID!) { order(id: $id) { status } }",
                           {"id": order["id"]}, token=saleor.staff_token)["data"]["order"]
    assert status["status"] == "UNFULFILLED"
    mailbox.wait(shopper.email, containing="is vrijgegeven")


@pytest.mark.parametrize("language,amount_text,phrase", [
    ("en", "$12.50", "Your store credit balance has changed"),
    ("nl", "12,50", "Je tegoed is gewijzigd"),
    ("sv", "12,50", "Ditt tillgodohavande har ändrats"),
])
def test_staff_adjustment_with_notify_reaches_the_customer_in_their_language(
        saleor, people, mailbox, language, amount_text, phrase):
    # given a customer reading `language`
    shopper = people.shopper(language)
    # when staff add 12.50 and ask to notify them
    assert grant(saleor, shopper, "12.50", notify=True)["errors"] == []
    # then the SMTP server receives their e-mail, in their language, with the amount
    message = mailbox.wait(shopper.email, containing=phrase)
    assert amount_text in text_of(message)
    assert message["From"] and "shop@example.com" in str(message["From"])
    # and staff read it in the delivery log as sent
    log = saleor.store_credit(
        """query ($id: ID!) { storeCreditEmailDeliveries(customerId: $id) {
           event status language } }""", {"id": shopper.id}, token=saleor.staff_token)
    rows = log["data"]["storeCreditEmailDeliveries"]
    assert {"event": "balance_changed", "status": "SENT", "language": language} in rows, rows
