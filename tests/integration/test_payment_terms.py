"""Payment terms (issue 19, item 1) inside real Saleor: terms per customer, credit group
or channel; an order placed on terms gets a due date (on fulfilment for the
fulfilment basis, set by Saleor's own orderFulfill); "overdue" is owing after the due
date for the overdue-amount rule (age stays the fallback without terms); the new
days-overdue rule; `store_credit.order_due` / `order_overdue` once per order."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.utils import timezone  # noqa: E402

from saleor.account.models import User  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402
from saleor.order import OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402

from saleor_store_credit import checkout as payments  # noqa: E402
from saleor_store_credit import conf  # noqa: E402
from saleor_store_credit.credit import terms  # noqa: E402
from saleor_store_credit.credit.models import (  # noqa: E402
    BlockingRule,
    CreditAudit,
    CreditGroup,
    CreditProfile,
    OrderHold,
)
from saleor_store_credit.credit.terms_models import OrderTerms, PaymentTerms  # noqa: E402
from saleor_store_credit.models import WebhookDelivery  # noqa: E402

from .fixtures import clone_checkout  # noqa: E402
from .support import TRANSACTION_CREATE_CHARGED, data, gid, payment_app_client  # noqa: E402
from .test_checkout import grant  # noqa: E402
from .test_pay_on_account import (  # noqa: E402
    ON_ACCOUNT,
    RECORD,
    give_limit,
    initialize,
)

HOOK = "http://127.0.0.1:9/terms-events"
COMPLETE = """
mutation ($id: ID) { checkoutComplete(id: $id) { order { id status } errors { code message } } }
"""
TERMS_SAVE = """
mutation ($id: ID, $input: PaymentTermsInput!) {
  paymentTermsSave(id: $id, input: $input) {
    terms { id name basis days isActive due } errors { field code message } } }
"""
TERMS_DELETE = """
mutation ($id: ID!) { paymentTermsDelete(id: $id) { deletedId errors { field code message } } }
"""
ASSIGN = """
mutation ($terms: ID, $customer: ID, $group: ID, $channel: String) {
  paymentTermsAssign(termsId: $terms, customerId: $customer, groupId: $group,
                     channel: $channel) {
    assignment { id terms { name } customerEmail groupName channel }
    errors { field code message } } }
"""
CUSTOMER_TERMS = """
query ($customer: ID!, $channel: String!) {
  customerPaymentTerms(customerId: $customer, channel: $channel) {
    terms { name } source } }
"""
ORDER_TERMS = """
query ($id: ID!) { orderPaymentTerms(orderId: $id) {
  onTerms termsName basis days source dueDate status daysOverdue owed { amount currency }
  onAccount { open { amount } } } }
"""
ORDERS_ON_TERMS = """
query ($status: OrderPaymentTermsStatus) { ordersOnTerms(status: $status) {
  orderNumber status dueDate owed { amount } } }
"""
FULFILL = """
mutation ($order: ID, $input: OrderFulfillInput!) {
  orderFulfill(order: $order, input: $input) { fulfillments { id } errors { field code message } } }
"""


@pytest.fixture
def store_credit_config():
    return {conf.CREDIT_CHANNELS: "*", conf.ON_ACCOUNT_CHANNELS: "*",
            conf.WEBHOOK_TARGETS: HOOK, conf.WEBHOOK_SECRET: "s3cret"}


@pytest.fixture
def channel(checkout_ready_to_complete):
    """A pay-later B2B channel that holds orders for credit review."""
    channel = checkout_ready_to_complete.channel
    channel.allow_unpaid_orders = True
    channel.automatically_confirm_all_new_orders = False
    channel.save(update_fields=["allow_unpaid_orders", "automatically_confirm_all_new_orders"])
    return channel


@pytest.fixture
def staff(sc_client, staff_user, permission_manage_users, permission_manage_orders,
          permission_manage_payments):
    grant(staff_user, permission_manage_users, permission_manage_orders,
          permission_manage_payments)
    return sc_client(user=staff_user)


@pytest.fixture
def place(store_credit_plugin, channel, checkout_ready_to_complete, checkout_delivery,
          customer_user):
    """Place a fresh copy of the ready checkout for `user` (unpaid, on account of the
    pay-later channel); returns the Order."""
    from saleor.warehouse.models import Stock

    Stock.objects.update(quantity=1000)  # a test places several orders

    def place(user=None, before_complete=None):
        user = user or customer_user
        checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, user)
        if before_complete:
            before_complete(checkout)
        payload = data(ApiClient(user=user).post_graphql(
            COMPLETE, {"id": gid("Checkout", checkout.pk)}))["checkoutComplete"]
        assert payload["errors"] == [], payload
        return Order.objects.get(checkout_token=str(checkout.pk))

    return place


@pytest.fixture
def total(checkout_ready_to_complete):
    return payments.left_to_pay(checkout_ready_to_complete,
                                get_plugins_manager(allow_replica=False))


def ok(response, name):
    assert "errors" not in response, response
    payload = response["data"][name]
    assert payload["errors"] == [], payload["errors"]
    return payload


def save_terms(staff, **values):
    values.setdefault("basis", "ORDER_DATE")
    return ok(staff.query(TERMS_SAVE, {"input": values}), "paymentTermsSave")["terms"]


def assign(staff, terms_gid, **owner):
    return ok(staff.query(ASSIGN, {"terms": terms_gid, **owner}), "paymentTermsAssign")


def order_terms(staff, order):
    return staff.query(ORDER_TERMS, {"id": gid("Order", order.pk)})["data"]["orderPaymentTerms"]


def events(name):
    return [d.payload for d in WebhookDelivery.objects.filter(
        event=f"store_credit.{name}").order_by("pk")]


def due_in(order, days: int):
    """Time passes: the order's due date is `days` from today (negative: past)."""
    OrderTerms.objects.filter(order_id=order.pk).update(
        due_date=timezone.localdate() + timedelta(days=days))


# --- terms and who has them ---------------------------------------------------------------


def test_the_customers_terms_apply_over_the_groups_over_the_channels(
    store_credit_plugin, staff, customer_user, channel_USD,
):
    # given three terms: the channel's default, the group's and the customer's own
    net60 = save_terms(staff, name="Net 60", days=60)
    net30 = save_terms(staff, name="Net 30", days=30)
    on_fulfilment = save_terms(staff, name="Due on fulfilment", basis="FULFILMENT", days=0)
    group = CreditGroup.objects.create(name="Wholesale")
    CreditProfile.objects.create(user=customer_user, group=group)
    customer = gid("User", customer_user.pk)

    def applies():
        return staff.query(CUSTOMER_TERMS, {"customer": customer, "channel": channel_USD.slug})[
            "data"]["customerPaymentTerms"]

    # when assigned one by one, then removed again
    assign(staff, net60["id"], channel=channel_USD.slug)
    seen = [applies()]
    assign(staff, net30["id"], group=gid("CreditGroup", group.pk))
    seen.append(applies())
    assign(staff, on_fulfilment["id"], customer=customer)
    seen.append(applies())
    assign(staff, None, customer=customer)
    seen.append(applies())
    PaymentTerms.objects.filter(name="Net 30").update(is_active=False)
    seen.append(applies())

    # then the most specific active terms apply
    assert [(s["terms"]["name"], s["source"]) for s in seen] == [
        ("Net 60", "CHANNEL"), ("Net 30", "GROUP"), ("Due on fulfilment", "CUSTOMER"),
        ("Net 30", "GROUP"), ("Net 60", "CHANNEL")]
    assert on_fulfilment["due"] == "on fulfilment"
    assert net30["due"] == "30 days after the order date"
    assert CreditAudit.objects.filter(kind="terms_changed").count() == 7


@pytest.mark.parametrize(("values", "field"), [
    ({"name": " ", "days": 30}, "name"),
    ({"name": "Net -1", "days": -1}, "days"),
    ({"name": "Net forever", "days": 3651}, "days"),
])
def test_bad_terms_are_refused(store_credit_plugin, staff, values, field):
    result = staff.query(TERMS_SAVE, {"input": {"basis": "ORDER_DATE", **values}})

    [error] = result["data"]["paymentTermsSave"]["errors"]
    assert error["field"] == field
    assert not PaymentTerms.objects.exists()


def test_assignments_name_one_owner_and_a_real_channel(store_credit_plugin, staff,
                                                      customer_user):
    net30 = save_terms(staff, name="Net 30", days=30)
    twice = staff.query(ASSIGN, {"terms": net30["id"], "customer": gid("User", customer_user.pk),
                                 "channel": "main"})["data"]["paymentTermsAssign"]
    nowhere = staff.query(ASSIGN, {"terms": net30["id"], "channel": "no-such-channel"})[
        "data"]["paymentTermsAssign"]
    duplicate = staff.query(TERMS_SAVE, {"input": {"name": "Net 30", "days": 30}})["data"][
        "paymentTermsSave"]

    assert twice["errors"][0]["field"] == "customerId"
    assert nowhere["errors"][0]["code"] == "NOT_FOUND"
    assert duplicate["errors"][0]["field"] == "name"


def test_deleting_terms_keeps_what_placed_orders_were_given(
    place, staff, customer_user, channel_USD,
):
    net30 = save_terms(staff, name="Net 30", days=30)
    assign(staff, net30["id"], channel=channel_USD.slug)
    order = place()

    deleted = ok(staff.query(TERMS_DELETE, {"id": net30["id"]}), "paymentTermsDelete")

    assert deleted["deletedId"] == net30["id"]
    row = OrderTerms.objects.get(order_id=order.pk)
    assert row.terms_id is None and row.terms_name == "Net 30" and row.days == 30


# --- due dates ------------------------------------------------------------------------------


def test_an_order_placed_on_net_30_gets_its_due_date(
    place, staff, customer_user, channel_USD, total, staff_api_client,
    permission_manage_orders,
):
    # given Net 30 as the channel's default
    net30 = save_terms(staff, name="Net 30", days=30)
    assign(staff, net30["id"], channel=channel_USD.slug)

    # when an order is placed
    order = place()

    # then it is on terms, due 30 days after the order date, shown on the order
    due = timezone.localdate(order.created_at) + timedelta(days=30)
    row = OrderTerms.objects.get(order_id=order.pk)
    assert (row.terms_name, row.source, row.due_date) == ("Net 30", "channel", due)
    seen = order_terms(staff, order)
    assert seen["onTerms"] is True and seen["dueDate"] == due.isoformat()
    assert seen["status"] == "NOT_DUE" and seen["daysOverdue"] == 0
    assert Decimal(str(seen["owed"]["amount"])) == total
    grant(staff_api_client.user, permission_manage_orders)
    saleor = data(staff_api_client.post_graphql(
        "query ($id: ID!) { order(id: $id) { privateMetadata { key value } "
        "events { type message } } }", {"id": gid("Order", order.pk)}))["order"]
    assert {"key": "store_credit.due_date", "value": due.isoformat()} in saleor[
        "privateMetadata"]
    assert any((e["message"] or "").startswith("Payment terms Net 30") for e in saleor["events"])


def test_end_of_month_terms_count_from_the_last_day_of_the_month():
    placed = timezone.make_aware(timezone.datetime(2027, 2, 10, 12))

    assert terms.due_date_for("end_of_month", 15, placed) == date(2027, 3, 15)
    assert terms.due_date_for("order_date", 30, placed) == date(2027, 3, 12)
    assert terms.due_date_for("fulfilment", 0, placed) is None
    assert terms.due_date_for("fulfilment", 14, placed, placed) == date(2027, 2, 24)


def test_an_order_paid_up_front_is_not_placed_on_terms(
    place, staff, channel_USD, total, permission_manage_payments,
):
    net30 = save_terms(staff, name="Net 30", days=30)
    assign(staff, net30["id"], channel=channel_USD.slug)
    card = payment_app_client(permission_manage_payments)

    order = place(before_complete=lambda checkout: card.post_graphql(
        TRANSACTION_CREATE_CHARGED, {"id": gid("Checkout", checkout.pk),
                                     "amount": str(total), "psp": "card-1"}))

    assert not OrderTerms.objects.filter(order_id=order.pk).exists()
    assert order_terms(staff, order) is None


def test_due_on_fulfilment_starts_when_saleor_fulfils_the_order(
    place, staff, customer_user, staff_api_client, permission_manage_orders,
):
    # given "due 14 days after fulfilment" for the customer
    terms_gid = save_terms(staff, name="14 days after delivery", basis="FULFILMENT",
                           days=14)["id"]
    assign(staff, terms_gid, customer=gid("User", customer_user.pk))
    order = place()
    assert order_terms(staff, order)["status"] == "AWAITING_FULFILMENT"
    order.status = OrderStatus.UNFULFILLED  # released from review
    order.save(update_fields=["status"])

    # when staff fulfil it with Saleor's own orderFulfill
    grant(staff_api_client.user, permission_manage_orders)
    lines = [{"orderLineId": gid("OrderLine", line.pk), "stocks": [{
        "quantity": line.quantity,
        "warehouse": gid("Warehouse", line.allocations.first().stock.warehouse_id)}]}
        for line in order.lines.all()]
    fulfilled = data(staff_api_client.post_graphql(FULFILL, {
        "order": gid("Order", order.pk), "input": {"lines": lines, "notifyCustomer": False}}))

    # then the due date runs from the fulfilment
    assert fulfilled["orderFulfill"]["errors"] == []
    row = OrderTerms.objects.get(order_id=order.pk)
    assert row.fulfilled_at is not None
    assert row.due_date == timezone.localdate(row.fulfilled_at) + timedelta(days=14)
    assert order_terms(staff, order)["status"] == "NOT_DUE"


def test_the_periodic_pass_sets_a_fulfilment_due_date_the_hook_missed(place, staff,
                                                                      customer_user):
    terms_gid = save_terms(staff, name="On delivery", basis="FULFILMENT", days=0)["id"]
    assign(staff, terms_gid, customer=gid("User", customer_user.pk))
    order = place()
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.FULFILLED)

    counts = terms.process_due_dates()

    assert counts["due_dates_set"] == 1
    assert OrderTerms.objects.get(order_id=order.pk).due_date == timezone.localdate()


def test_the_shopper_sees_the_terms_and_due_date_before_paying_on_account(
    store_credit_plugin, channel, staff, sc_client, customer_user, channel_USD, total,
    checkout_ready_to_complete, checkout_delivery, user_api_client,
):
    net30 = save_terms(staff, name="Net 30", days=30)
    assign(staff, net30["id"], channel=channel_USD.slug)
    give_limit(customer_user, total * 3)
    checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)

    seen = sc_client(user=customer_user).query(
        """query ($id: ID!) { checkoutPayOnAccount(checkoutId: $id) {
             terms { name description dueDate } } }""",
        {"id": gid("Checkout", checkout.pk)})["data"]["checkoutPayOnAccount"]
    listed = {c["id"]: c["data"] for c in data(user_api_client.post_graphql(
        "mutation ($id: ID!) { paymentGatewayInitialize(id: $id) { gatewayConfigs { id data } } }",
        {"id": gid("Checkout", checkout.pk)}))["paymentGatewayInitialize"]["gatewayConfigs"]}

    due = (timezone.localdate() + timedelta(days=30)).isoformat()
    assert seen["terms"] == {"name": "Net 30", "description": "30 days after the order date",
                             "dueDate": due}
    assert listed[ON_ACCOUNT]["terms"]["dueDate"] == due


# --- overdue for the blocking rules ---------------------------------------------------------


def test_overdue_amount_counts_orders_past_their_due_date_and_old_orders_without_terms(
    place, staff, customer_user, channel_USD, total,
):
    # given Net 60 and an order placed 40 days ago (not yet due)
    net60 = save_terms(staff, name="Net 60", days=60)
    assign(staff, net60["id"], customer=gid("User", customer_user.pk))
    earlier = place()
    Order.objects.filter(pk=earlier.pk).update(
        status=OrderStatus.UNFULFILLED, created_at=timezone.now() - timedelta(days=40))
    due_in(earlier, 20)
    BlockingRule.objects.create(name="overdue", rule_type="overdue_amount", action="hold",
                                currency="USD", threshold=Decimal("1"), days=30)

    # when the next orders are placed: before the due date, after it
    not_due = place()
    due_in(earlier, -1)
    overdue = place()

    # then only an order past its due date is overdue, whatever its age
    assert not_due.status == OrderStatus.UNFULFILLED
    assert overdue.status == OrderStatus.UNCONFIRMED
    hold = OrderHold.objects.get(order_id=overdue.pk)
    assert hold.reason_types == ["overdue_amount"]
    assert "unpaid past the due date" in hold.reasons[0]["message"]


def test_without_terms_overdue_falls_back_to_the_age_of_the_order(place, customer_user):
    earlier = place()
    Order.objects.filter(pk=earlier.pk).update(
        status=OrderStatus.UNFULFILLED, created_at=timezone.now() - timedelta(days=40))
    BlockingRule.objects.create(name="overdue", rule_type="overdue_amount", action="hold",
                                currency="USD", threshold=Decimal("1"), days=30)

    order = place()

    assert not OrderTerms.objects.exists()
    assert OrderHold.objects.get(order_id=order.pk).reason_types == ["overdue_amount"]


@pytest.fixture
def on_account_app(db):
    from saleor.app.models import App

    return App.objects.create(name="Pay on account", identifier=ON_ACCOUNT, is_active=True)


def test_days_overdue_rule_holds_until_the_overdue_invoice_is_paid(
    place, staff, customer_user, channel_USD, total, on_account_app,
):
    # given Net 30, a limit, an order placed on account, and "more than 10 days overdue"
    net30 = save_terms(staff, name="Net 30", days=30)
    assign(staff, net30["id"], channel=channel_USD.slug)
    give_limit(customer_user, total * 10)
    shopper = ApiClient(user=customer_user)
    earlier = place(before_complete=lambda checkout: initialize(shopper, checkout))
    Order.objects.filter(pk=earlier.pk).update(status=OrderStatus.UNFULFILLED)
    ok(staff.query(
        """mutation ($input: CreditBlockingRuleInput!) { creditBlockingRuleSave(input: $input)
           { rule { id } errors { field code message } } }""",
        {"input": {"name": "10 days", "ruleType": "DAYS_OVERDUE", "action": "HOLD",
                   "days": 10}}), "creditBlockingRuleSave")

    # when time passes: 5 days overdue, 11 days overdue, 11 days and partly paid, paid
    due_in(earlier, -5)
    five = place()
    due_in(earlier, -11)
    eleven = place()
    record = lambda amount: ok(staff.query(RECORD, {  # noqa: E731
        "order": gid("Order", earlier.pk), "amount": amount}), "orderInvoicePaymentRecord")
    record("1.00")
    partly = place()
    record(None)
    paid = place()

    # then the rule holds while an invoice is more than 10 days overdue
    assert five.status == OrderStatus.UNFULFILLED
    assert eleven.status == OrderStatus.UNCONFIRMED
    reason = OrderHold.objects.get(order_id=eleven.pk).reasons[0]
    assert reason["rule_type"] == "days_overdue"
    assert reason["message"].startswith(f"Order {earlier.number} is 11 days overdue")
    assert reason["values"]["days_overdue"] == "11"
    assert partly.status == OrderStatus.UNCONFIRMED
    assert paid.status == OrderStatus.UNFULFILLED
    assert OrderTerms.objects.get(order_id=earlier.pk).paid_at is not None


def test_the_days_overdue_rule_needs_days(store_credit_plugin, staff):
    result = staff.query(
        """mutation { creditBlockingRuleSave(input: {name: "x", ruleType: DAYS_OVERDUE,
           action: HOLD}) { errors { field code } } }""")

    assert result["data"]["creditBlockingRuleSave"]["errors"] == [
        {"field": "days", "code": "REQUIRED"}]


# --- due and overdue events ----------------------------------------------------------------


def test_order_due_and_order_overdue_are_sent_once_per_order(
    place, staff, customer_user, channel_USD, total,
):
    from saleor_store_credit.tasks import payment_terms_due_dates_task

    net30 = save_terms(staff, name="Net 30", days=30)
    assign(staff, net30["id"], channel=channel_USD.slug)
    order = place()
    other = place()
    Order.objects.filter(pk__in=[order.pk, other.pk]).update(status=OrderStatus.UNFULFILLED)

    # not due yet: nothing
    assert payment_terms_due_dates_task.delay().get() == {
        "due_dates_set": 0, "paid": 0, "due": 0, "overdue": 0}
    # the due date: order_due, once however often the task runs
    due_in(order, 0)
    terms.process_due_dates()
    terms.process_due_dates()
    assert [e["data"]["order_id"] for e in events("order_due")] == [str(order.pk)]
    assert events("order_overdue") == []
    assert order_terms(staff, order)["status"] == "DUE"
    # the day after: order_overdue, once
    due_in(order, -1)
    terms.process_due_dates()
    terms.process_due_dates()
    [overdue] = events("order_overdue")
    assert overdue["data"]["order_id"] == str(order.pk)
    assert overdue["data"]["days_overdue"] == 1
    assert overdue["data"]["owed"] == str(total)
    assert overdue["data"]["due_date"] == (timezone.localdate() - timedelta(days=1)).isoformat()
    assert len(events("order_due")) == 1
    assert order_terms(staff, order)["daysOverdue"] == 1
    # an order first seen after its due date: both, once each
    due_in(other, -3)
    terms.process_due_dates()
    assert [e["data"]["order_id"] for e in events("order_due")] == [str(order.pk), str(other.pk)]
    assert len(events("order_overdue")) == 2
    listed = staff.query(ORDERS_ON_TERMS, {"status": "OVERDUE"})["data"]["ordersOnTerms"]
    assert [o["orderNumber"] for o in listed] == [other.number, order.number]


def test_a_cancelled_or_paid_order_sends_no_due_events(
    place, staff, customer_user, channel_USD, total, on_account_app,
):
    net30 = save_terms(staff, name="Net 30", days=30)
    assign(staff, net30["id"], channel=channel_USD.slug)
    give_limit(customer_user, total * 10)
    shopper = ApiClient(user=customer_user)
    paid = place(before_complete=lambda checkout: initialize(shopper, checkout))
    cancelled = place()
    Order.objects.filter(pk=paid.pk).update(status=OrderStatus.UNFULFILLED)
    Order.objects.filter(pk=cancelled.pk).update(status=OrderStatus.CANCELED)
    ok(staff.query(RECORD, {"order": gid("Order", paid.pk)}), "orderInvoicePaymentRecord")
    due_in(paid, -2)
    due_in(cancelled, -2)

    terms.process_due_dates()

    assert events("order_due") == [] and events("order_overdue") == []
    assert order_terms(staff, paid)["status"] == "PAID"
    assert order_terms(staff, cancelled)["status"] == "CLOSED"


def test_order_terms_are_refused_to_staff_of_another_channel(
    place, staff, sc_client, channel_USD, channel_PLN, permission_manage_orders,
):
    from saleor.account.models import Group

    net30 = save_terms(staff, name="Net 30", days=30)
    assign(staff, net30["id"], channel=channel_USD.slug)
    order = place()
    outsider = User.objects.create(email="pln@example.com", is_staff=True, is_active=True)
    group = Group.objects.create(name="PLN only", restricted_access_to_channels=True)
    group.permissions.add(permission_manage_orders)
    group.channels.add(channel_PLN)
    group.user_set.add(outsider)

    seen = sc_client(user=outsider).query(ORDER_TERMS, {"id": gid("Order", order.pk)})
    listed = sc_client(user=outsider).query(ORDERS_ON_TERMS)

    assert seen["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
    assert listed["data"]["ordersOnTerms"] == []


# --- the staff screens ---------------------------------------------------------------------


NODE_LOADER = r"""
const fs = require("fs");
const noop = () => {};
global.window = { addEventListener: noop, parent: { postMessage: noop } };
global.document = { addEventListener: noop, getElementById: () => ({}) };
global.location = { href: "http://shop/plugins/global/saleor-store-credit/dashboard/terms",
  search: "", origin: "http://shop", pathname: "/plugins/global/saleor-store-credit/dashboard/terms" };
for (const name of ["app.js", "terms.js"]) (0, eval)(fs.readFileSync(`${process.argv[1]}/${name}`, "utf8"));
process.stdout.write(JSON.stringify(window.StoreCreditUI.documents));
"""


def test_the_terms_screens_ask_only_what_the_schema_has():
    """Every GraphQL document of the Dashboard's terms screens (static/dashboard/
    terms.js, loaded after app.js as the page loads them) validates against the API."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    from graphql import parse, validate

    from saleor_store_credit.graphql.schema import schema

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    static = Path(terms.__file__).resolve().parents[1] / "static" / "dashboard"
    out = subprocess.run([node, "-e", NODE_LOADER, str(static)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    documents = json.loads(out)

    assert {"terms.order", "terms.invoices", "terms.pay", "terms.assign"} <= set(documents)
    for name, document in documents.items():
        assert validate(schema, parse(document)) == [], name
    assert '<script src="terms.js"></script>' in (static / "index.html").read_text()


def test_the_on_account_apps_manifest_passes_saleors_validation(store_credit_plugin, client,
                                                               settings):
    from saleor.app.manifest_validations import clean_manifest_data

    settings.PUBLIC_URL = None
    base = "/plugins/global/saleor-store-credit/app/on-account/"

    manifest = client.get(base + "manifest").json()
    clean_manifest_data(manifest)
    registered = client.post(base + "register", {"auth_token": "x"})

    assert manifest["id"] == ON_ACCOUNT and manifest["permissions"] == []
    assert manifest["tokenTargetUrl"] == f"http://testserver{base}register"
    assert registered.json() == {"success": True}
    assert client.get(base + "nothing").status_code == 404
    screen = client.get("/plugins/global/saleor-store-credit/dashboard/terms.js")
    assert screen.status_code == 200 and screen["Content-Type"].startswith("text/javascript")


def test_average_days_to_pay_counts_orders_on_terms_by_their_invoice_payment(
    place, staff, customer_user, channel_USD, total, on_account_app,
):
    # given two orders placed on account on Net 30, placed 12 and 20 days ago
    from saleor_store_credit.credit import risk

    net30 = save_terms(staff, name="Net 30", days=30)
    assign(staff, net30["id"], channel=channel_USD.slug)
    give_limit(customer_user, total * 10)
    shopper = ApiClient(user=customer_user)
    orders = []
    for days_ago in (12, 20):
        order = place(before_complete=lambda checkout: initialize(shopper, checkout))
        placed = timezone.now() - timedelta(days=days_ago)
        OrderTerms.objects.filter(order_id=order.pk).update(placed_at=placed)
        Order.objects.filter(pk=order.pk).update(created_at=placed)
        orders.append(order)
    since = timezone.now() - timedelta(days=365)
    assert risk.average_days_to_pay([customer_user.pk], since) == {}  # nothing paid yet

    # when staff record each invoice paid today
    for order in orders:
        ok(staff.query(RECORD, {"order": gid("Order", order.pk), "amount": None}),
           "orderInvoicePaymentRecord")

    # then the customer took (12 + 20) / 2 days to pay, by the terms' own clock
    assert all(OrderTerms.objects.get(order_id=o.pk).paid_at for o in orders)
    days = risk.average_days_to_pay([customer_user.pk], since)[customer_user.pk]
    assert Decimal("15.99") <= days <= Decimal("16.00"), days
