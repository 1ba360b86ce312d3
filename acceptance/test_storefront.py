"""A storefront's shoppers, over HTTP: pay fully or partly with store credit (plugin
endpoint and Saleor's own transactionInitialize), remove it, two tabs, a cart edited
after credit is applied. After each: Saleor's transaction agrees with the ledger."""

import threading
from decimal import Decimal

from .conftest import card_pays, complete, grant, money, native, store_credit_transaction

APPLY = """mutation ($id: ID!, $amount: Decimal) { checkoutStoreCreditApply(checkoutId: $id,
  amount: $amount) { checkoutStoreCredit { applied { amount } available { amount }
  leftToPay { amount } } errors { field code message } } }"""
REMOVE = """mutation ($id: ID!) { checkoutStoreCreditRemove(checkoutId: $id) {
  checkoutStoreCredit { applied { amount } available { amount } } errors { code } } }"""


def apply(saleor, shopper, checkout_id, amount=None) -> dict:
    result = saleor.store_credit(APPLY, {"id": checkout_id, "amount": amount},
                                 token=shopper.token)
    assert "data" in result, result
    return result["data"]["checkoutStoreCreditApply"]


def test_shopper_pays_the_whole_order_with_store_credit(saleor, people):
    # given a shopper with more credit than the order costs
    shopper = people.shopper()
    checkout_id, total = shopper.checkout()
    assert grant(saleor, shopper, total + 5)["errors"] == []
    # when they apply it (all, up to what is left to pay) and place the order
    applied = apply(saleor, shopper, checkout_id)
    assert applied["errors"] == []
    assert money(applied["checkoutStoreCredit"]["applied"]["amount"]) == total
    assert money(applied["checkoutStoreCredit"]["leftToPay"]["amount"]) == 0
    order = complete(saleor, shopper, checkout_id)
    # then the order is paid in full by store credit, and exactly the total was spent
    assert order["errors"] == [], order
    # (the credit check passed: confirmed, and checkoutComplete already says so)
    assert order["answered_status"] == "UNFULFILLED"
    assert order["order"]["chargeStatus"] == "FULL"
    assert shopper.account() == {"balance": Decimal(5), "held": 0, "available": Decimal(5)}
    tx = store_credit_transaction(saleor, order_id=order["order"]["id"])
    assert (tx["charged"], tx["authorized"], tx["refunded"]) == (total, 0, 0)


def test_shopper_pays_part_with_credit_through_saleors_own_api_and_a_card_the_rest(
        saleor, people):
    # given a shopper with 3.00 of credit and a dearer cart
    shopper = people.shopper()
    checkout_id, total = shopper.checkout(quantity=2)
    grant(saleor, shopper, "3.00")
    # when the storefront lists the gateway, uses the credit and a card pays leftToPay
    listed = saleor.saleor(
        "mutation ($id: ID!) { paymentGatewayInitialize(id: $id) { gatewayConfigs { id data } } }",
        {"id": checkout_id}, token=shopper.token,
    )["data"]["paymentGatewayInitialize"]["gatewayConfigs"]
    [gateway] = [g for g in listed if g["id"] == "saleor-store-credit"]
    assert money(gateway["data"]["available"]) == Decimal("3.00")
    used = native(saleor, shopper, checkout_id)
    assert used["errors"] == [] and not used["data"].get("errors"), used
    assert money(used["transaction"]["authorizedAmount"]["amount"]) == Decimal("3.00")
    left = money(used["data"]["leftToPay"])
    assert left == total - Decimal("3.00")
    card_pays(saleor, checkout_id, left)
    order = complete(saleor, shopper, checkout_id)
    # then the order is fully paid, 3.00 from credit and the rest by card
    assert order["errors"] == [], order
    assert order["order"]["chargeStatus"] == "FULL"
    assert shopper.account()["balance"] == 0
    tx = store_credit_transaction(saleor, order_id=order["order"]["id"])
    assert (tx["charged"], tx["authorized"]) == (Decimal("3.00"), 0)


def test_removing_credit_gives_it_back_and_saleor_sees_nothing_authorized(saleor, people):
    # given credit applied on a checkout, once through each entry point
    shopper = people.shopper()
    checkout_id, _total = shopper.checkout()
    grant(saleor, shopper, "2.00")
    for remove in ("plugin", "native"):
        assert apply(saleor, shopper, checkout_id, "1.50")["errors"] == []
        assert shopper.account()["available"] == Decimal("0.50")
        # when the shopper removes it
        if remove == "plugin":
            result = saleor.store_credit(REMOVE, {"id": checkout_id}, token=shopper.token)
            assert result["data"]["checkoutStoreCreditRemove"]["errors"] == []
        else:
            result = native(saleor, shopper, checkout_id, {"amount": "0"})
            assert result["errors"] == [] and not result["data"].get("errors"), result
        # then all of it is available again and Saleor's transaction holds nothing
        assert shopper.account() == {"balance": Decimal(2), "held": 0,
                                     "available": Decimal(2)}, remove
        tx = store_credit_transaction(saleor, checkout_id=checkout_id)
        assert tx is None or tx["authorized"] == 0, (remove, tx)


def test_two_tabs_cannot_spend_the_same_credit_twice(saleor, people):
    # given 10.00 of credit and two checkouts open in two tabs
    shopper = people.shopper()
    grant(saleor, shopper, "10.00")
    tabs = [shopper.checkout(quantity=2) for _ in range(2)]
    results = [None, None]
    barrier = threading.Barrier(2)

    def use(i):
        barrier.wait()
        results[i] = apply(saleor, shopper, tabs[i][0], "10.00")

    # when both tabs apply all of it at the same moment (served by different workers)
    threads = [threading.Thread(target=use, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then at most 10.00 is reserved in all, and what is reserved is what Saleor shows
    applied = [money(r["checkoutStoreCredit"]["applied"]["amount"])
               for r in results if not r["errors"] and r["checkoutStoreCredit"]["applied"]]
    assert sum(applied) <= Decimal("10.00"), results
    refused = [r["errors"][0]["code"] for r in results if r["errors"]]
    assert all(code in {"INSUFFICIENT_FUNDS", "CHECKOUT_LOCKED"} for code in refused), results
    account = shopper.account()
    assert account["held"] == sum(applied) and account["available"] == 10 - sum(applied)
    authorized = sum(
        (tx["authorized"] for tx in (store_credit_transaction(saleor, checkout_id=c)
                                     for c, _ in tabs) if tx), Decimal(0))
    assert authorized == sum(applied)


def test_the_same_checkout_completed_twice_at_once_makes_one_order_paid_once(saleor, people):
    # given a checkout fully covered by credit
    shopper = people.shopper()
    checkout_id, total = shopper.checkout()
    grant(saleor, shopper, total)
    assert apply(saleor, shopper, checkout_id)["errors"] == []
    results = [None] * 3
    barrier = threading.Barrier(3)

    def place(i):
        barrier.wait()
        results[i] = complete(saleor, shopper, checkout_id)

    # when three requests complete it at once
    threads = [threading.Thread(target=place, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then there is one order, and the credit was taken once
    orders = {r["order"]["id"] for r in results if r["order"]}
    assert len(orders) == 1, results
    assert shopper.account() == {"balance": 0, "held": 0, "available": 0}
    tx = store_credit_transaction(saleor, order_id=orders.pop())
    assert tx["charged"] == total


def test_a_cart_shrunk_after_credit_is_applied_is_never_overcharged(saleor, people):
    # given credit applied to cover a two-item cart
    shopper = people.shopper()
    checkout_id, total = shopper.checkout(quantity=2)
    grant(saleor, shopper, total)
    assert apply(saleor, shopper, checkout_id)["errors"] == []
    # when the shopper removes one item and places the order
    lines = saleor.saleor(
        "query ($id: ID!) { checkout(id: $id) { lines { id } } }", {"id": checkout_id},
        token=shopper.token)["data"]["checkout"]["lines"]
    updated = saleor.saleor(
        """mutation ($id: ID!, $line: ID!) { checkoutLinesUpdate(id: $id,
           lines: [{lineId: $line, quantity: 1}]) { checkout { totalPrice { gross { amount } } }
           errors { code message } } }""",
        {"id": checkout_id, "line": lines[0]["id"]}, token=shopper.token,
    )["data"]["checkoutLinesUpdate"]
    assert updated["errors"] == []
    new_total = money(updated["checkout"]["totalPrice"]["gross"]["amount"])
    order = complete(saleor, shopper, checkout_id)
    # then the shopper pays the new total and keeps the difference as credit
    assert order["errors"] == [], order
    assert new_total < total
    tx = store_credit_transaction(saleor, order_id=order["order"]["id"])
    assert tx["charged"] == new_total
    assert shopper.account() == {"balance": total - new_total, "held": 0,
                                 "available": total - new_total}
