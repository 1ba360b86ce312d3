"""The four staff/shopper journeys of issue #10, in headless Chromium against a real
Saleor server. Screenshots go to artifacts/e2e/."""

import re
import time
from decimal import Decimal

from .conftest import CHANNEL, HELD_EMAIL, open_extension, shot


def _customer_id(saleor, email: str) -> str:
    data = saleor.saleor(
        "query ($e: String) { user(email: $e) { id } }", {"e": email}, token=saleor.staff_token,
    )
    return data["data"]["user"]["id"]


def _available(saleor, email: str) -> Decimal:
    token = saleor.token(email, saleor.password)
    accounts = saleor.store_credit(
        "{ me { storeCredit { accounts { currency available { amount } } } } }", token=token,
    )["data"]["me"]["storeCredit"]["accounts"]
    usd = [a for a in accounts if a["currency"] == "USD"]
    return Decimal(str(usd[0]["available"]["amount"])) if usd else Decimal(0)


def _amount(text: str) -> Decimal:
    return Decimal(re.search(r"(-?[\d,]+\.\d\d)", text).group(1).replace(",", ""))


def test_staff_adjusts_a_customer_balance(page, saleor, shell_url, extensions):
    customer = _customer_id(saleor, "shopper@example.com")
    before = _available(saleor, "shopper@example.com")
    app = open_extension(page, saleor, shell_url, extensions["customer"], customerId=customer)

    form = app.locator("[data-testid=adjust-form]")
    form.locator("[name=amount]").fill("25.00")
    form.locator("[name=currency]").fill("USD")
    form.locator("[name=reason]").fill("Goodwill for a late delivery")
    shot(page, "01-staff-adjust-form")
    form.get_by_role("button", name="Adjust balance").click()

    app.locator(".success", has_text="Balance updated").wait_for()
    expected = before + Decimal("25.00")
    balance = app.locator("[data-testid=balance-USD]")
    balance.filter(has_text=f"{expected:.2f}").wait_for()
    app.locator("[data-testid=history]").get_by_text("Goodwill for a late delivery").first.wait_for()
    shot(page, "02-staff-adjusted-balance")
    assert _available(saleor, "shopper@example.com") == expected


def test_shopper_applies_credit_and_places_an_order(page, saleor):
    shopper = saleor.token("shopper@example.com", saleor.password)
    if _available(saleor, "shopper@example.com") < Decimal("5.00"):
        customer = _customer_id(saleor, "shopper@example.com")
        saleor.store_credit(
            """mutation ($id: ID!) { storeCreditAdjust(customerId: $id, amount: "30.00",
               currency: "USD", reason: "e2e top-up") { errors { message } } }""",
            {"id": customer}, token=saleor.staff_token,
        )
    available = _available(saleor, "shopper@example.com")
    checkout, _name, total = saleor.ready_checkout(shopper, "shopper@example.com", CHANNEL)

    # issue 18: paying goes through Saleor's own /graphql/ only; the plugin's endpoint
    # is asked for the customer's balances, never to apply or remove credit
    sent = []
    page.on("request", lambda request: sent.append(
        (request.url, request.post_data or "")) if request.method == "POST" else None)
    page.goto(f"{saleor.url}/plugins/global/saleor-store-credit/storefront/"
              f"?checkout={checkout['id']}")
    login = page.locator("#login")
    login.locator("[name=email]").fill("shopper@example.com")
    login.locator("[name=password]").fill(saleor.password)
    login.get_by_role("button", name="Log in").click()

    use = page.locator("[data-testid=use-credit]")
    use.filter(has_text=f"({available:.2f} USD available)").wait_for()
    shot(page, "03-storefront-use-store-credit")
    use.click()
    applied = page.locator("[data-testid=applied]")
    applied.wait_for()
    applied_amount = abs(_amount(applied.inner_text()))
    assert applied_amount == min(available, total)
    page.locator("[data-testid=remove-credit]").wait_for()
    assert _amount(page.locator("[data-testid=to-pay]").inner_text()) == total - applied_amount
    shot(page, "04-storefront-credit-applied")

    # anything left is paid on account: the channel allows unpaid orders
    page.locator("[data-testid=place-order]").click()
    placed = page.locator("[data-testid=order-placed]")
    placed.wait_for()
    assert re.search(r"Order #\d+ placed", placed.inner_text())
    shot(page, "05-storefront-order-placed")
    assert _available(saleor, "shopper@example.com") == available - applied_amount
    plugin_calls = [body for url, body in sent if "/plugins/global/" in url]
    saleor_calls = [body for url, body in sent if url.endswith("/graphql/")
                    and "/plugins/global/" not in url]
    assert not [b for b in plugin_calls if "checkoutStoreCredit" in b], plugin_calls
    assert [b for b in saleor_calls if "saleor-store-credit" in b and "transactionInitialize" in b]
    assert [b for b in saleor_calls if "paymentGatewayInitialize" in b]


def _latest_order(saleor, email: str) -> dict:
    data = saleor.saleor(
        """query ($s: String) { orders(first: 1, sortBy: {field: NUMBER, direction: DESC},
             filter: {search: $s}) { edges { node { id number status userEmail
             lines { id quantity } } } } }""", {"s": email}, token=saleor.staff_token,
    )
    return data["data"]["orders"]["edges"][0]["node"]


def _wait_until_charged(saleor, order_id: str, seconds: float = 30.0) -> None:
    """Store credit is charged by the Celery worker right after the confirmation."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        charged = saleor.saleor(
            "query ($id: ID!) { order(id: $id) { totalCharged { amount } } }",
            {"id": order_id}, token=saleor.staff_token,
        )["data"]["order"]["totalCharged"]["amount"]
        if charged > 0:
            return
        time.sleep(0.3)
    raise AssertionError("the order's store credit was not charged by the worker")


def test_staff_refunds_an_order_to_store_credit(page, saleor, shell_url, extensions):
    order = _latest_order(saleor, "shopper@example.com")
    _wait_until_charged(saleor, order["id"])
    before = _available(saleor, "shopper@example.com")
    app = open_extension(page, saleor, shell_url, extensions["order"], orderId=order["id"])

    app.locator("[data-testid=order-store-credit]").wait_for()
    form = app.locator("[data-testid=credit-memo-form]")
    line = order["lines"][0]
    # a whole line is more than was paid (the rest of the order is on account): refused
    form.locator(f"[name='qty-{line['id']}']").fill("1")
    form.locator("[name=memoReason]").fill("Damaged in transit")
    form.get_by_role("button", name="Refund to store credit").click()
    app.locator(".error", has_text="REFUND_EXCEEDS_PAID").wait_for()
    shot(page, "06-staff-credit-memo-refused-over-paid")
    # a plain amount within what was paid
    form.locator(f"[name='qty-{line['id']}']").fill("0")
    form.locator("[name=memoAmount]").fill("10.00")
    form.get_by_role("button", name="Refund to store credit").click()

    success = app.locator(".success", has_text="to store credit")
    success.wait_for()
    refunded = _amount(success.inner_text())
    shot(page, "07-staff-credit-memo-done")
    assert refunded == Decimal("10.00")
    deadline = time.time() + 10
    while _available(saleor, "shopper@example.com") != before + refunded and time.time() < deadline:
        time.sleep(0.3)
    assert _available(saleor, "shopper@example.com") == before + refunded


def test_staff_releases_a_held_order(page, saleor, shell_url, extensions):
    held = _customer_id(saleor, HELD_EMAIL)
    saleor.store_credit(
        """mutation ($id: ID!) { customerCreditProfileUpdate(customerId: $id, currency: "USD",
           onHold: true, onHoldReason: "Payment overdue") { errors { message } } }""",
        {"id": held}, token=saleor.staff_token,
    )
    token = saleor.token(HELD_EMAIL, saleor.password)
    checkout, _name, _total = saleor.ready_checkout(token, HELD_EMAIL, CHANNEL, quantity=1)
    completed = saleor.saleor(
        """mutation ($id: ID) { checkoutComplete(id: $id) { order { id number status }
           errors { code message } } }""", {"id": checkout["id"]}, token=token,
    )["data"]["checkoutComplete"]
    assert completed["errors"] == [] and completed["order"]["status"] == "UNCONFIRMED"
    number = completed["order"]["number"]

    app = open_extension(page, saleor, shell_url, extensions["holds"])
    row = app.locator("[data-testid=hold-row]", has_text=f"{number}")
    row.wait_for()
    shot(page, "08-staff-held-orders")
    row.locator("[name=holdReason]").fill("Customer paid the overdue invoice")
    row.get_by_role("button", name=re.compile("Release")).click()
    app.locator("[data-testid=hold-row]", has_text=f"{number}").wait_for(state="detached")
    shot(page, "09-staff-held-order-released")

    status = saleor.saleor(
        "query ($id: ID!) { order(id: $id) { status } }", {"id": completed["order"]["id"]},
        token=saleor.staff_token,
    )["data"]["order"]["status"]
    assert status == "UNFULFILLED"
