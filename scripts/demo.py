"""`make demo`: a scripted storefront + staff scenario against a real Saleor server.

Migrates (and, on an empty database, loads Saleor's own sample catalogue with
`populatedb`), starts the API server and a Celery worker, then over HTTP:
staff grants credit -> shopper applies part of it to a checkout -> another payment
method pays the rest -> order placed, credit debited -> staff refunds the store-credit
payment -> balance restored -> an abandoned checkout's hold is released by the
Celery sweeper. Then the B2B path: staff switch on credit management and pay on
account, give the buyer Net 30 and a credit limit, install the pay-on-account App from
its manifest -> the buyer places an order "on account" through Saleor's own
`transactionInitialize` -> the order has a due date and is owed -> staff record the
invoice paid in two parts -> Saleor shows the order fully charged. Prints what
happened at each step.

    SALEOR_PYTHON=/path/to/saleor/.venv/bin/python SALEOR_SRC=/path/to/saleor make demo
"""

import json
import sys
import time
from decimal import Decimal

from saleor_server import DEMO_PASSWORD as PASSWORD
from saleor_server import SETUP_USERS, Saleor

CHANNEL = "default-channel"

SETUP = SETUP_USERS + """
from saleor.app.models import App
from saleor.permission.models import Permission
from saleor.product.models import Product
app, _ = App.objects.get_or_create(name="Demo card PSP", defaults={"is_active": True})
app.permissions.add(Permission.objects.get(codename="handle_payments"))
_, token = app.tokens.create(name="demo")
print("APP_TOKEN=" + token)
print("PRODUCTS=" + str(Product.objects.count()))
"""

# populatedb makes refund reasons reference a page type; the demo refunds without one.
NO_REFUND_REASON_TYPE = """
from saleor.site.models import SiteSettings
SiteSettings.objects.update(refund_reason_reference_type=None)
"""

EXPIRE_HOLDS = """
from django.utils import timezone
from datetime import timedelta
from saleor_store_credit.models import Hold
n = Hold.objects.filter(status="active", checkout_id__isnull=False).update(
    expires_at=timezone.now() - timedelta(minutes=1))
from saleor_store_credit.tasks import release_abandoned_store_credit_holds_task
release_abandoned_store_credit_holds_task.delay()
print("QUEUED", n)
"""


def money(value) -> Decimal:
    return Decimal(str(value))


def main() -> int:
    saleor = Saleor(database="saleor_store_credit_demo", port=8766)
    saleor.install_plugin()
    saleor.ensure_database()
    saleor.migrate()
    out = saleor.shell(SETUP)
    app_token = out.split("APP_TOKEN=")[1].split()[0]
    if out.split("PRODUCTS=")[1].split()[0] == "0":
        saleor.step("empty database: loading Saleor's sample catalogue (populatedb)")
        saleor.manage("populatedb", "--withoutimages", "--skipsequencereset")
    saleor.shell(NO_REFUND_REASON_TYPE)
    saleor.start_api()
    saleor.start_worker()
    try:
        return scenario(saleor, app_token)
    finally:
        saleor.stop()


def check(condition: bool, what: str) -> None:
    print(f"   {'ok' if condition else 'FAILED'}: {what}")
    if not condition:
        raise SystemExit(1)


def scenario(saleor: Saleor, app_token: str) -> int:
    staff = saleor.token("staff@example.com", PASSWORD)
    shopper = saleor.token("shopper@example.com", PASSWORD)
    saleor.saleor(
        'mutation { pluginUpdate(id: "saleor-store-credit", input: {active: true}) '
        "{ errors { message } } }",
        token=staff,
    )
    me = saleor.saleor("{ me { id } }", token=shopper)["data"]["me"]["id"]

    def balance():
        data = saleor.store_credit(
            "{ me { storeCredit { accounts { currency balance { amount } available"
            " { amount } } } } }", token=shopper,
        )["data"]["me"]["storeCredit"]["accounts"]
        usd = [a for a in data if a["currency"] == "USD"]
        return (money(usd[0]["balance"]["amount"]), money(usd[0]["available"]["amount"])) if usd else (Decimal(0), Decimal(0))

    start_balance, _ = balance()
    saleor.step("staff grants 10.00 USD of store credit (storeCreditAdjust)")
    adjust = saleor.store_credit(
        """mutation ($id: ID!, $key: String) { storeCreditAdjust(customerId: $id,
           amount: "10.00", currency: "USD", reason: "Demo goodwill credit",
           idempotencyKey: $key) { account { balance { amount } } errors { code message } } }""",
        {"id": me, "key": f"demo-{time.time()}"}, token=staff,
    )["data"]["storeCreditAdjust"]
    check(adjust["errors"] == [], f"balance now {adjust['account']['balance']['amount']}")

    saleor.step("shopper builds a checkout")
    checkout, name, total = saleor.ready_checkout(shopper, "shopper@example.com", CHANNEL)
    check(True, f"checkout with 2 x {name}; shipping chosen, total {total} USD")

    saleor.step("paymentGatewayInitialize lists store credit with the available amount")
    gateways = saleor.saleor(
        "mutation ($id: ID!) { paymentGatewayInitialize(id: $id) { gatewayConfigs { id data } } }",
        {"id": checkout["id"]}, token=shopper,
    )["data"]["paymentGatewayInitialize"]["gatewayConfigs"]
    advert = [g for g in gateways if g["id"] == "saleor-store-credit"]
    check(bool(advert), f"store credit offered: {json.dumps(advert[0]['data'])}")

    use = min(Decimal("5.00"), (total / 2).quantize(Decimal("0.01")))
    saleor.step(f"shopper clicks 'Use store credit' for {use} (checkoutStoreCreditApply)")
    applied = saleor.store_credit(
        """mutation ($id: ID!, $amount: Decimal!) { checkoutStoreCreditApply(checkoutId: $id, amount: $amount) {
           checkoutStoreCredit { applied { amount } available { amount } } errors { code message } } }""",
        {"id": checkout["id"], "amount": str(use)}, token=shopper,
    )["data"]["checkoutStoreCreditApply"]
    check(applied["errors"] == [], f"applied {applied}")
    state = saleor.saleor(
        "query ($id: ID!) { checkout(id: $id) { authorizeStatus } }",
        {"id": checkout["id"]}, token=shopper,
    )["data"]["checkout"]
    rest = total - use  # totalBalance counts only charged money, not authorizations
    check(state["authorizeStatus"] == "PARTIAL", f"checkout PARTIAL, {rest} USD left to pay")

    saleor.step("another payment method (an app's card transaction) pays the rest")
    paid = saleor.saleor(
        """mutation ($id: ID!, $amount: PositiveDecimal!) { transactionCreate(id: $id,
           transaction: {name: "Card (demo PSP)", pspReference: "demo-card-1",
           amountCharged: {amount: $amount, currency: "USD"}}) { errors { message } } }""",
        {"id": checkout["id"], "amount": str(rest)}, token=app_token,
    )["data"]["transactionCreate"]
    check(paid["errors"] == [], f"card charged {rest} USD")

    saleor.step("shopper places the order (checkoutComplete)")
    completed = saleor.saleor(
        "mutation ($id: ID!) { checkoutComplete(id: $id) { order { id number } errors { code message } } }",
        {"id": checkout["id"]}, token=shopper,
    )["data"]["checkoutComplete"]
    check(completed["errors"] == [], f"order #{completed['order']['number']} placed")
    order_id = completed["order"]["id"]
    # the worker charges the store credit right after the order's confirmation
    expected = start_balance + Decimal("10.00") - use
    deadline = time.time() + 30
    after_order, _ = balance()
    while after_order != expected and time.time() < deadline:
        time.sleep(0.3)
        after_order, _ = balance()
    check(after_order == expected,
          f"balance debited by the worker: {start_balance} + 10.00 - {use} = {after_order}")

    order = saleor.saleor(
        """query ($id: ID!) { order(id: $id) { chargeStatus transactions { id name
           chargedAmount { amount } } events { type message } } }""",
        {"id": order_id}, token=staff,
    )["data"]["order"]
    check(order["chargeStatus"] == "FULL", "order fully charged")
    credit_tx = [t for t in order["transactions"] if t["name"] == "Store credit"][0]
    for event in order["events"]:
        if event["message"] and "Store credit" in event["message"]:
            print(f"   timeline: {event['message']}")

    saleor.step("staff refunds the store-credit payment (transactionRequestAction REFUND)")
    refunded = saleor.saleor(
        """mutation ($id: ID!, $amount: PositiveDecimal!) { transactionRequestAction(id: $id,
           actionType: REFUND, amount: $amount) { transaction { refundedAmount { amount } }
           errors { message } } }""",
        {"id": credit_tx["id"], "amount": str(use)}, token=staff,
    )["data"]["transactionRequestAction"]
    check(refunded["errors"] == [], f"refund requested {refunded}")
    after_refund, _ = balance()
    check(after_refund == start_balance + Decimal("10.00"), f"balance restored to {after_refund}")

    saleor.step("an abandoned checkout's reservation is released by the Celery sweeper")
    second, _, _ = saleor.ready_checkout(shopper, "shopper@example.com", CHANNEL, quantity=1)
    saleor.store_credit(
        'mutation ($id: ID!) { checkoutStoreCreditApply(checkoutId: $id, amount: "1.00") { errors { code } } }',
        {"id": second["id"]}, token=shopper,
    )
    _, available_before = balance()
    saleor.shell(EXPIRE_HOLDS)
    deadline = time.time() + 60
    while time.time() < deadline:
        _, available = balance()
        if available == available_before + Decimal("1.00"):
            break
        time.sleep(1)
    check(available == available_before + Decimal("1.00"),
          "the worker released the expired hold (available back up by 1.00)")

    history = saleor.store_credit(
        "{ me { storeCredit { entries(first: 5) { edges { node { kind direction amount"
        " { amount } reason orderId } } } } } }", token=shopper,
    )["data"]["me"]["storeCredit"]["entries"]["edges"]
    print("   shopper's history (newest first):")
    for edge in history:
        node = edge["node"]
        print(f"     {node['direction']:<6} {node['amount']['amount']:>8} {node['kind']:<10}"
              f" {node['reason']}{'  order ' + node['orderId'] if node['orderId'] else ''}")
    b2b_scenario(saleor, staff, shopper, me)
    print("demo: OK")
    return 0


def _ok(result: dict, name: str) -> dict:
    payload = (result.get("data") or {}).get(name)
    check(payload is not None and payload.get("errors") == [], f"{name}: {payload or result}")
    return payload


def b2b_scenario(saleor: Saleor, staff: str, buyer: str, buyer_id: str) -> None:
    """Credit management and pay on account, over HTTP only."""
    saleor.step("B2B: staff switch on credit management and pay on account (pluginUpdate)")
    _ok(saleor.saleor(
        """mutation { pluginUpdate(id: "saleor-store-credit", input: {configuration: [
           {name: "credit_management_channels", value: "*"},
           {name: "pay_on_account_channels", value: "*"}]}) { errors { field message } } }""",
        token=staff), "pluginUpdate")
    saleor.step("B2B: staff create Net 30 and make it the channel's default (paymentTermsSave/Assign)")
    terms = _ok(saleor.store_credit(
        """mutation { paymentTermsSave(input: {name: "Net 30 (demo)", basis: ORDER_DATE,
           days: 30}) { terms { id name } errors { field code message } } }""",
        token=staff), "paymentTermsSave")["terms"]
    _ok(saleor.store_credit(
        """mutation ($t: ID, $c: String) { paymentTermsAssign(termsId: $t, channel: $c) {
           assignment { id } errors { field code message } } }""",
        {"t": terms["id"], "c": CHANNEL}, token=staff), "paymentTermsAssign")
    saleor.step("B2B: staff give the buyer a credit limit of 5000.00 USD (creditLimitSet)")
    _ok(saleor.store_credit(
        """mutation ($input: CreditLimitInput!) { creditLimitSet(input: $input) {
           adjustment { status } errors { field code message } } }""",
        {"input": {"customerId": buyer_id, "currency": "USD", "amount": "5000.00"}},
        token=staff), "creditLimitSet")
    saleor.step("B2B: staff install the pay-on-account App from its manifest (appInstall)")
    manifest = f"{saleor.url}/plugins/global/saleor-store-credit/app/on-account/manifest"
    apps = saleor.saleor("{ apps(first: 50) { edges { node { identifier isActive } } } }",
                         token=staff)["data"]["apps"]["edges"]
    if not any(e["node"]["identifier"] == "saleor-store-credit.on-account" for e in apps):
        _ok(saleor.saleor(
            """mutation ($input: AppInstallInput!) { appInstall(input: $input) {
               errors { field code message } } }""",
            {"input": {"appName": "Pay on account", "manifestUrl": manifest,
                       "activateAfterInstallation": True,
                       "permissions": ["HANDLE_PAYMENTS"]}}, token=staff), "appInstall")
    deadline = time.time() + 90
    while time.time() < deadline:
        apps = saleor.saleor("{ apps(first: 50) { edges { node { identifier isActive } } } }",
                             token=staff)["data"]["apps"]["edges"]
        if any(e["node"]["identifier"] == "saleor-store-credit.on-account"
               and e["node"]["isActive"] for e in apps):
            break
        time.sleep(1)
    check(time.time() < deadline, "the worker installed the pay-on-account App")

    saleor.step("B2B: the buyer's checkout; paymentGatewayInitialize lists pay on account")
    checkout, _name, total = saleor.ready_checkout(buyer, "shopper@example.com", CHANNEL,
                                                   quantity=1)
    listed = saleor.saleor(
        "mutation ($id: ID!) { paymentGatewayInitialize(id: $id) { gatewayConfigs { id data } } }",
        {"id": checkout["id"]}, token=buyer,
    )["data"]["paymentGatewayInitialize"]["gatewayConfigs"]
    on_account = [g for g in listed if g["id"] == "saleor-store-credit.on-account"]
    check(bool(on_account), f"pay on account is listed: {on_account}")
    saleor.step("B2B: the buyer pays on account (transactionInitialize) and places the order")
    initialized = _ok(saleor.saleor(
        """mutation ($id: ID!) { transactionInitialize(id: $id, paymentGateway: {
           id: "saleor-store-credit.on-account"}) { transaction { authorizedAmount { amount } }
           errors { field code message } } }""",
        {"id": checkout["id"]}, token=buyer), "transactionInitialize")
    check(money(initialized["transaction"]["authorizedAmount"]["amount"]) == total,
          f"{total} authorized on account")
    order = _ok(saleor.saleor(
        """mutation ($id: ID!) { checkoutComplete(id: $id) { order { id number status
           chargeStatus } errors { field code message } } }""",
        {"id": checkout["id"]}, token=buyer), "checkoutComplete")["order"]
    check(order["status"] == "UNFULFILLED", f"order {order['number']} placed and confirmed")
    terms_query = """query ($id: ID!) { orderPaymentTerms(orderId: $id) { termsName dueDate
        status owed { amount } } }"""
    on_terms = saleor.store_credit(terms_query, {"id": order["id"]},
                                   token=staff)["data"]["orderPaymentTerms"]
    check(on_terms["termsName"] == "Net 30 (demo)" and on_terms["dueDate"] is not None,
          f"due on {on_terms['dueDate']} ({on_terms['termsName']}), owed "
          f"{on_terms['owed']['amount']}")
    saleor.step("B2B: staff record the invoice paid, first half, then the rest")
    record = """mutation ($id: ID!, $amount: Decimal, $ref: String) {
        orderInvoicePaymentRecord(orderId: $id, amount: $amount, reference: $ref) {
        orderPaymentTerms { status owed { amount } } errors { field code message } } }"""
    half = (total / 2).quantize(Decimal("0.01"))
    first = _ok(saleor.store_credit(record, {"id": order["id"], "amount": str(half),
                                             "ref": "BANK-1"}, token=staff),
                "orderInvoicePaymentRecord")["orderPaymentTerms"]
    check(money(first["owed"]["amount"]) == total - half, f"still owed {first['owed']['amount']}")
    rest = _ok(saleor.store_credit(record, {"id": order["id"], "amount": None, "ref": "BANK-2"},
                                   token=staff), "orderInvoicePaymentRecord")["orderPaymentTerms"]
    check(money(rest["owed"]["amount"]) == 0, f"invoice {rest['status']}, nothing owed")
    charged = saleor.saleor("query ($id: ID!) { order(id: $id) { chargeStatus } }",
                            {"id": order["id"]}, token=staff)["data"]["order"]["chargeStatus"]
    check(charged == "FULL", f"Saleor shows the order {charged} charged")


if __name__ == "__main__":
    sys.exit(main())
