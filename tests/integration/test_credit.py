"""Customer credit management inside real Saleor: limits, groups, blocking rules,
order holds, release/reject, four-eyes, re-checks and race safety (issue #6).

Orders are placed through Saleor's own `checkoutComplete` in a pay-later channel
(`allowUnpaidOrders`); "hold-enabled" channels do not confirm new orders themselves.
"""

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from saleor.account.models import User  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402
from saleor.order import OrderEvents, OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402
from saleor.plugins.manager import get_plugins_manager  # noqa: E402

from saleor_store_credit import checkout as payments  # noqa: E402
from saleor_store_credit import conf  # noqa: E402
from saleor_store_credit.credit.models import (  # noqa: E402
    BlockingRule,
    CreditAudit,
    CreditLimit,
    CreditReservation,
    OrderHold,
    TemporaryLimit,
)
from saleor_store_credit.ledger import ledger_verify  # noqa: E402
from saleor_store_credit.models import Entry, Hold, HoldStatus, WebhookDelivery  # noqa: E402

from .fixtures import clone_checkout  # noqa: E402
from .test_checkout import APPLY, COMPLETE, fund, gid, grant  # noqa: E402

HOOK = "http://127.0.0.1:9/credit-events"

RULE_SAVE = """
mutation ($id: ID, $input: CreditBlockingRuleInput!) {
  creditBlockingRuleSave(id: $id, input: $input) {
    rule { id ruleType action scope threshold }
    errors { field code message }
  }
}
"""
LIMIT_SET = """
mutation ($input: CreditLimitInput!) {
  creditLimitSet(input: $input) {
    adjustment { id status amount { amount } unlimited }
    errors { field code message }
  }
}
"""
ADJ_CREATE = """
mutation ($input: CreditLimitInput!) {
  creditLimitAdjustmentCreate(input: $input) {
    adjustment { id status } errors { field code message }
  }
}
"""
ADJ_STATUS = """
mutation ($id: ID!, $action: CreditLimitAdjustmentAction!) {
  creditLimitAdjustmentUpdateStatus(id: $id, action: $action) {
    adjustment { id status submittedBy approvedBy postedBy } errors { field code message }
  }
}
"""
GROUP_SAVE = """
mutation ($input: CreditGroupInput!) {
  creditGroupSave(input: $input) { group { id name } errors { field code message } }
}
"""
PROFILE = """
mutation ($customer: ID!, $group: ID, $onHold: Boolean) {
  customerCreditProfileUpdate(customerId: $customer, currency: "USD", groupId: $group,
                              onHold: $onHold) {
    customerCredit { onHold group { name } }
    errors { field code message }
  }
}
"""
CUSTOMER_CREDIT = """
query ($customer: ID!) {
  customerCredit(customerId: $customer, currency: "USD") {
    limit { amount { amount } unlimited temporary }
    groupLimit { amount { amount } }
    exposure { amount } groupExposure { amount } availableCredit { amount }
    onHold heldOrders
  }
}
"""
HOLDS = """
query ($reason: CreditRuleType, $customer: ID, $channel: String, $older: Int) {
  orderCreditHolds(reason: $reason, customerId: $customer, channel: $channel,
                   olderThanHours: $older) {
    id orderId status channel customerEmail total { amount }
    reasons { ruleType action scope message values }
  }
}
"""
RELEASE = """
mutation ($id: ID!, $reason: String!, $review: Date) {
  orderCreditHoldRelease(id: $id, reason: $reason, reviewDate: $review) {
    hold { id status reviewDate requestedBy resolvedBy resolutionReason }
    errors { field code message }
  }
}
"""
REJECT = """
mutation ($id: ID!, $reason: String!) {
  orderCreditHoldReject(id: $id, reason: $reason) {
    hold { status } errors { field code message }
  }
}
"""


@pytest.fixture
def store_credit_config():
    return {conf.CREDIT_CHANNELS: "*", conf.WEBHOOK_TARGETS: HOOK}


@pytest.fixture
def hold_channel(checkout_ready_to_complete):
    channel = checkout_ready_to_complete.channel
    channel.automatically_confirm_all_new_orders = False
    channel.allow_unpaid_orders = True
    channel.save(update_fields=["automatically_confirm_all_new_orders", "allow_unpaid_orders"])
    return channel


@pytest.fixture
def staff(sc_client, staff_user, permission_manage_users, permission_manage_orders):
    grant(staff_user, permission_manage_users, permission_manage_orders)
    return sc_client(user=staff_user)


@pytest.fixture
def second_staff(sc_client, permission_manage_users, permission_manage_orders):
    other = User.objects.create(email="approver@example.com", is_staff=True, is_active=True)
    grant(other, permission_manage_users, permission_manage_orders)
    return sc_client(user=other)


@pytest.fixture
def other_customer():
    return User.objects.create(email="colleague@example.com", is_active=True)


@pytest.fixture
def place(store_credit_plugin, hold_channel, checkout_ready_to_complete, checkout_delivery,
          customer_user):
    """Complete a fresh copy of the ready checkout for `user`; returns the payload."""

    def place(user=None, *, checkout=None, before_complete=None):
        user = user or customer_user
        checkout = checkout or clone_checkout(checkout_ready_to_complete, checkout_delivery, user)
        if before_complete:
            before_complete(checkout)
        response = ApiClient(user=user).post_graphql(COMPLETE, {"id": gid("Checkout", checkout.pk)})
        data = response.json()
        assert "errors" not in data, data
        return data["data"]["checkoutComplete"]

    return place


@pytest.fixture
def order_total(checkout_ready_to_complete):
    """What one placed copy of the ready checkout costs (all unpaid on account)."""
    return payments.left_to_pay(
        checkout_ready_to_complete, get_plugins_manager(allow_replica=False)
    )


def ok(result, name):
    assert "errors" not in result, result
    payload = result["data"][name]
    assert payload["errors"] == [], payload["errors"]
    return payload


def rule(staff, **fields):
    fields.setdefault("name", fields["ruleType"].lower())
    return ok(staff.query(RULE_SAVE, {"input": fields}), "creditBlockingRuleSave")["rule"]


def set_limit(staff, owner_field, owner_gid, amount=None, **extra):
    values = {owner_field: owner_gid, "currency": "USD", **extra}
    if amount is not None:
        values["amount"] = str(amount)
    return ok(staff.query(LIMIT_SET, {"input": values}), "creditLimitSet")["adjustment"]


def the_order(payload) -> Order:
    assert payload["errors"] == [], payload["errors"]
    return Order.objects.get(number=int(Order.objects.latest("number").number))


def events(name):
    return list(
        WebhookDelivery.objects.filter(event=f"store_credit.{name}").order_by("pk")
        .values_list("payload", flat=True)
    )


# --- passing, holding and the Dashboard-visible state -----------------------------------------


def test_order_that_passes_is_confirmed_automatically(place, staff, customer_user, order_total):
    set_limit(staff, "customerId", gid("User", customer_user.pk), order_total * 2)
    rule(staff, ruleType="LIMIT_EXCEEDED", action="HOLD")

    order = the_order(place())

    # (that checkoutComplete answers UNFULFILLED too is shown by `make acceptance`:
    # Saleor's test client runs the on-commit hooks after the answer is built)
    assert order.status == OrderStatus.UNFULFILLED
    assert not OrderHold.objects.exists()
    assert order.events.filter(type=OrderEvents.CONFIRMED).count() == 1
    audit = CreditAudit.objects.get(kind="check_passed")
    assert audit.order_id == order.pk
    assert not CreditReservation.objects.exists()  # the order counts itself now


def test_held_order_is_visible_in_the_dashboard_and_not_expired_by_saleor(
    place, staff, customer_user, order_total, staff_api_client, permission_manage_orders,
):
    from saleor.order.tasks import expire_orders_task

    set_limit(staff, "customerId", gid("User", customer_user.pk), order_total - 1)
    rule(staff, ruleType="LIMIT_EXCEEDED", action="HOLD")

    order = the_order(place())

    assert order.status == OrderStatus.UNCONFIRMED
    grant(staff_api_client.user, permission_manage_orders)
    seen = staff_api_client.post_graphql(
        """query ($id: ID!) { order(id: $id) {
             status privateMetadata { key value }
             events { type message } transactions { name chargedAmount { amount } } } }""",
        {"id": gid("Order", order.pk)},
    ).json()["data"]["order"]
    assert seen["status"] == "UNCONFIRMED"
    assert {"key": "store_credit.credit_hold", "value": "held: limit_exceeded"} in seen[
        "privateMetadata"
    ]
    notes = [e["message"] for e in seen["events"] if e["type"] == "NOTE_ADDED"]
    assert any(n.startswith("Held for credit review: Credit limit exceeded") for n in notes)
    assert [t["name"] for t in seen["transactions"]] == ["Credit hold"]
    assert seen["transactions"][0]["chargedAmount"]["amount"] == 0

    # Saleor expires unconfirmed orders without transactions; a held one is kept.
    channel = order.channel
    channel.expire_orders_after = 1
    channel.save(update_fields=["expire_orders_after"])
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(hours=2))
    expire_orders_task()
    order.refresh_from_db()
    assert order.status == OrderStatus.UNCONFIRMED

    listed = staff.query(HOLDS, {"reason": "LIMIT_EXCEEDED"})["data"]["orderCreditHolds"]
    assert [h["orderId"] for h in listed] == [gid("Order", order.pk)]
    assert json.loads(listed[0]["reasons"][0]["values"])["limit"] == str(order_total - 1)
    assert [p["data"]["order_id"] for p in events("order_held")] == [str(order.pk)]


def _place_with_rule(place, staff, customer_user, order_total, rule_type):
    """Arrange what makes `rule_type` fire for the customer's next order."""
    customer = gid("User", customer_user.pk)
    if rule_type == "LIMIT_EXCEEDED":
        set_limit(staff, "customerId", customer, order_total - Decimal("0.01"))
        rule(staff, ruleType=rule_type, action="HOLD")
    elif rule_type == "LIMIT_USED_PERCENT":
        set_limit(staff, "customerId", customer, order_total * 2)
        rule(staff, ruleType=rule_type, action="HOLD", threshold="40")
    elif rule_type == "OVERDUE_AMOUNT":
        earlier = the_order(place())  # passes: no rule yet
        Order.objects.filter(pk=earlier.pk).update(
            created_at=timezone.now() - timedelta(days=40)
        )
        rule(staff, ruleType=rule_type, action="HOLD", threshold="10", days=30,
             currency="USD")
    elif rule_type == "ORDER_VALUE":
        rule(staff, ruleType=rule_type, action="HOLD", currency="USD",
             threshold=str(order_total - 1))
    elif rule_type == "LIMIT_EXPIRED":
        set_limit(staff, "customerId", customer, unlimited=True,
                  expiresOn=(timezone.now() - timedelta(days=1)).date().isoformat())
        rule(staff, ruleType=rule_type, action="HOLD")
    elif rule_type == "ACCOUNT_ON_HOLD":
        ok(staff.query(PROFILE, {"customer": customer, "onHold": True}),
           "customerCreditProfileUpdate")
        rule(staff, ruleType=rule_type, action="HOLD")
    elif rule_type == "PAYMENT_METHOD":
        rule(staff, ruleType=rule_type, action="HOLD", paymentMethods=["none"])
    return the_order(place())


@pytest.mark.parametrize(
    "rule_type, expected_message",
    [
        ("LIMIT_EXCEEDED", "Credit limit exceeded (customer)"),
        ("LIMIT_USED_PERCENT", "50.00% of the customer credit limit used"),
        ("OVERDUE_AMOUNT", "Overdue amount"),
        ("ORDER_VALUE", "Order value"),
        ("LIMIT_EXPIRED", "The customer credit limit expired"),
        ("ACCOUNT_ON_HOLD", "The customer's account is on hold."),
        ("PAYMENT_METHOD", "Payment method none is restricted."),
    ],
)
def test_every_rule_type_holds_the_order(
    place, staff, customer_user, order_total, rule_type, expected_message
):
    order = _place_with_rule(place, staff, customer_user, order_total, rule_type)

    assert order.status == OrderStatus.UNCONFIRMED
    hold = OrderHold.objects.get(order_id=order.pk)
    assert hold.reason_types == [rule_type.lower()]
    assert hold.reasons[0]["message"].startswith(expected_message), hold.reasons
    audit = CreditAudit.objects.get(kind="order_held", order_id=order.pk)
    assert audit.data["reasons"][0]["rule_type"] == rule_type.lower()


def test_warn_rule_confirms_with_a_note(place, staff, order_total):
    rule(staff, ruleType="ORDER_VALUE", action="WARN", currency="USD", threshold="1")

    order = the_order(place())

    assert order.status == OrderStatus.UNFULFILLED
    note = order.events.get(type=OrderEvents.NOTE_ADDED).parameters["message"]
    assert note.startswith("Credit warning: Order value")
    assert CreditAudit.objects.filter(kind="check_warned", order_id=order.pk).exists()


# --- blocking at checkout -------------------------------------------------------------------


def test_block_rule_refuses_checkout_complete_with_a_saleor_error_code(
    place, staff, customer_user, order_total
):
    rule(staff, ruleType="ORDER_VALUE", action="BLOCK", currency="USD",
         threshold=str(order_total - 1))

    payload = place()

    assert payload["order"] is None
    [error] = payload["errors"]
    assert error["code"] == "CHECKOUT_NOT_FULLY_PAID"
    assert "the order value needs payment up front" in error["message"]
    assert not Order.objects.exists()
    blocked = CreditAudit.objects.get(kind="checkout_blocked")
    assert blocked.user_id == customer_user.pk
    assert blocked.data["reasons"][0]["values"]["threshold"] == str(order_total - 1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_cannot_both_slip_under_the_limit(
    store_credit_plugin, hold_channel, checkout_ready_to_complete, checkout_delivery,
    customer_user, staff_user,
):
    from saleor_store_credit.credit import limits
    from saleor_store_credit.ledger import Actor

    total = payments.left_to_pay(
        checkout_ready_to_complete, get_plugins_manager(allow_replica=False)
    )
    limits.set_limit_directly(
        actor=Actor.for_user(staff_user), settings=conf.StoreCreditSettings(),
        user=customer_user, currency="USD", amount=total * Decimal("1.5"),
    )
    BlockingRule.objects.create(name="limit", rule_type="limit_exceeded", action="block")
    checkouts = [
        clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
        for _ in range(2)
    ]
    barrier = threading.Barrier(2)
    results, failures = [], []

    def complete(checkout):
        from django.db import connections

        connections["replica"] = connections["default"]
        from saleor.core.db.connection import allow_writer

        try:
            barrier.wait()
            with allow_writer():  # Saleor's guard is per thread; the API is the writer here
                response = ApiClient(user=customer_user).post_graphql(
                    COMPLETE, {"id": gid("Checkout", checkout.pk)}
                )
            payload = response.json()["data"]["checkoutComplete"]
            results.append([e["code"] for e in payload["errors"]] or "order")
        except Exception as exc:  # asserted below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=complete, args=(c,)) for c in checkouts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert failures == []
    assert sorted(map(str, results)) == ["['CHECKOUT_NOT_FULLY_PAID']", "order"]
    assert Order.objects.count() == 1


# --- scope precedence, exclusions, groups ------------------------------------------------------


def test_customer_rule_overrides_the_all_customers_rule_of_the_same_type(
    place, staff, customer_user, other_customer, order_total
):
    rule(staff, ruleType="ORDER_VALUE", action="HOLD", currency="USD", threshold="1",
         name="everyone")
    rule(staff, ruleType="ORDER_VALUE", action="WARN", currency="USD", threshold="1",
         scope="CUSTOMER", customerId=gid("User", customer_user.pk), name="trusted")

    trusted = the_order(place(customer_user))
    other = the_order(place(other_customer))

    assert trusted.status == OrderStatus.UNFULFILLED  # only the customer's WARN applied
    assert other.status == OrderStatus.UNCONFIRMED
    assert OrderHold.objects.get().reasons[0]["rule_name"] == "everyone"


def test_group_rule_applies_to_members_and_exclusions_skip_a_rule(
    place, staff, customer_user, other_customer, order_total
):
    group = ok(staff.query(GROUP_SAVE, {"input": {"name": "Wholesale"}}), "creditGroupSave")
    group_id = group["group"]["id"]
    ok(staff.query(PROFILE, {"customer": gid("User", other_customer.pk), "group": group_id}),
       "customerCreditProfileUpdate")
    rule(staff, ruleType="ORDER_VALUE", action="HOLD", currency="USD", threshold="1",
         scope="GROUP", groupId=group_id)
    rule(staff, ruleType="PAYMENT_METHOD", action="HOLD", paymentMethods=["none"],
         excludedCustomerIds=[gid("User", customer_user.pk)], excludedGroupIds=[group_id])

    member = the_order(place(other_customer))
    outsider = the_order(place(customer_user))

    assert OrderHold.objects.get(order_id=member.pk).reason_types == ["order_value"]
    assert outsider.status == OrderStatus.UNFULFILLED  # excluded from the all-scope rule


def test_group_limit_is_shared_and_the_lower_of_group_and_customer_applies(
    place, staff, customer_user, other_customer, order_total
):
    group = ok(staff.query(GROUP_SAVE, {"input": {"name": "Family"}}), "creditGroupSave")
    group_id = group["group"]["id"]
    for member in (customer_user, other_customer):
        ok(staff.query(PROFILE, {"customer": gid("User", member.pk), "group": group_id}),
           "customerCreditProfileUpdate")
    # group: room for 1.5 orders; customers: room for 10 orders each
    set_limit(staff, "groupId", group_id, order_total * Decimal("1.5"))
    for member in (customer_user, other_customer):
        set_limit(staff, "customerId", gid("User", member.pk), order_total * 10)
    rule(staff, ruleType="LIMIT_EXCEEDED", action="HOLD")

    first = the_order(place(other_customer))
    second = the_order(place(customer_user))

    assert first.status == OrderStatus.UNFULFILLED
    hold = OrderHold.objects.get(order_id=second.pk)
    assert hold.reasons[0]["values"]["who"] == "group"
    credit = staff.query(CUSTOMER_CREDIT, {"customer": gid("User", customer_user.pk)})
    view = credit["data"]["customerCredit"]
    assert Decimal(str(view["groupExposure"]["amount"])) == order_total * 2
    assert Decimal(str(view["exposure"]["amount"])) == order_total
    assert view["availableCredit"]["amount"] == 0

    # a customer limit below the group's applies to that customer
    set_limit(staff, "groupId", group_id, order_total * 100)
    set_limit(staff, "customerId", gid("User", other_customer.pk), order_total)
    third = the_order(place(other_customer))
    assert OrderHold.objects.get(order_id=third.pk).reasons[0]["values"]["who"] == "customer"


# --- limits: journal, temporary limits, four-eyes, direct-edit switch ---------------------------


def test_temporary_limit_applies_in_its_period_and_ends(
    place, staff, customer_user, order_total
):
    from saleor_store_credit.tasks import end_temporary_limits_task

    customer = gid("User", customer_user.pk)
    set_limit(staff, "customerId", customer, 0)  # 0 = no credit
    now = timezone.now()
    set_limit(staff, "customerId", customer, order_total * 3, temporary=True,
              validFrom=(now - timedelta(hours=1)).isoformat(),
              validTo=(now + timedelta(hours=1)).isoformat())
    rule(staff, ruleType="LIMIT_EXCEEDED", action="HOLD")
    view = staff.query(CUSTOMER_CREDIT, {"customer": customer})["data"]["customerCredit"]
    assert view["limit"]["temporary"] is True

    during = the_order(place())
    assert during.status == OrderStatus.UNFULFILLED

    TemporaryLimit.objects.update(valid_from=now - timedelta(days=2),
                                  valid_to=now - timedelta(minutes=1))
    assert end_temporary_limits_task.delay().get() == 1
    assert end_temporary_limits_task.delay().get() == 0  # ends once
    ended = [p["data"] for p in events("limit_changed")][-1]
    assert ended["amount"] == "0.00" and ended["unlimited"] is False
    after = the_order(place())
    hold = OrderHold.objects.get(order_id=after.pk)
    assert hold.reasons[0]["values"]["limit"] == "0.00"


def test_limit_journal_with_four_eyes_and_direct_edits_switched_off(
    staff, second_staff, customer_user, store_credit_plugin
):
    store_credit_plugin.configuration += [
        {"name": conf.CREDIT_FOUR_EYES, "value": True},
        {"name": conf.CREDIT_FORBID_DIRECT_EDITS, "value": True},
    ]
    store_credit_plugin.save()
    customer = gid("User", customer_user.pk)

    refused = staff.query(LIMIT_SET, {"input": {"customerId": customer, "currency": "USD",
                                                "amount": "100"}})
    assert refused["data"]["creditLimitSet"]["errors"][0]["code"] == "DIRECT_EDIT_FORBIDDEN"

    draft = ok(staff.query(ADJ_CREATE, {"input": {
        "customerId": customer, "currency": "USD", "amount": "250.00", "reason": "good payer",
    }}), "creditLimitAdjustmentCreate")["adjustment"]
    assert draft["status"] == "DRAFT"
    ok(staff.query(ADJ_STATUS, {"id": draft["id"], "action": "SUBMIT"}),
       "creditLimitAdjustmentUpdateStatus")
    early = staff.query(ADJ_STATUS, {"id": draft["id"], "action": "POST"})
    assert early["data"]["creditLimitAdjustmentUpdateStatus"]["errors"][0]["code"] == (
        "INVALID_STATUS"
    )
    own = staff.query(ADJ_STATUS, {"id": draft["id"], "action": "APPROVE"})
    assert own["data"]["creditLimitAdjustmentUpdateStatus"]["errors"][0]["code"] == (
        "FOUR_EYES_REQUIRED"
    )
    assert not CreditLimit.objects.exists()

    ok(second_staff.query(ADJ_STATUS, {"id": draft["id"], "action": "APPROVE"}),
       "creditLimitAdjustmentUpdateStatus")
    posted = ok(staff.query(ADJ_STATUS, {"id": draft["id"], "action": "POST"}),
                "creditLimitAdjustmentUpdateStatus")["adjustment"]

    assert posted["status"] == "POSTED"
    assert CreditLimit.objects.get(user=customer_user).amount == Decimal("250.00")
    kinds = list(CreditAudit.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds.count("limit_adjustment") == 4 and "limit_changed" in kinds
    assert events("limit_changed")[0]["data"]["amount"] == "250.00"


@pytest.mark.parametrize(
    "values, field, code",
    [
        ({"amount": "-5"}, "amount", "INVALID_AMOUNT"),
        ({"amount": "1.234"}, "amount", "INVALID_AMOUNT"),
        ({}, "amount", "REQUIRED"),
        ({"amount": "5", "unlimited": True}, "amount", "INVALID"),
        ({"amount": "5", "temporary": True}, "validTo", "REQUIRED"),
        ({"amount": "5", "currency": "XXXX"}, "currency", "INVALID_CURRENCY"),
    ],
)
def test_bad_limit_input_is_refused_and_changes_nothing(
    staff, customer_user, values, field, code
):
    payload = staff.query(LIMIT_SET, {"input": {
        "customerId": gid("User", customer_user.pk), "currency": "USD", **values,
    }})["data"]["creditLimitSet"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)]
    assert not CreditLimit.objects.exists() and not CreditAudit.objects.exists()


@pytest.mark.parametrize(
    "values, field, code",
    [
        ({"ruleType": "ORDER_VALUE", "threshold": "10"}, "currency", "REQUIRED"),
        ({"ruleType": "LIMIT_USED_PERCENT", "threshold": "abc"}, "threshold", "INVALID"),
        ({"ruleType": "LIMIT_USED_PERCENT", "threshold": "0"}, "threshold", "INVALID"),
    ],
)
def test_bad_rule_input_is_refused(staff, values, field, code):
    payload = staff.query(RULE_SAVE, {"input": {"name": "x", "action": "HOLD", **values}})
    errors = payload["data"]["creditBlockingRuleSave"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)]
    assert not BlockingRule.objects.exists()


def test_shoppers_cannot_use_the_credit_staff_api(sc_client, customer_user, place):
    shopper = sc_client(user=customer_user)
    result = shopper.query(HOLDS, {})
    assert result["errors"][0]["message"].startswith("You do not have permission")
    result = shopper.query(RULE_SAVE, {"input": {"name": "x", "ruleType": "ACCOUNT_ON_HOLD",
                                                 "action": "BLOCK"}})
    assert result["errors"][0]["message"].startswith("You do not have permission")


# --- release, reject, four-eyes, re-checks, outside confirmation -------------------------------


def _held_order_paid_with_credit(place, staff, shopper_client, customer_user):
    fund(customer_user, "1000.00")
    ok(staff.query(PROFILE, {"customer": gid("User", customer_user.pk), "onHold": True}),
       "customerCreditProfileUpdate")
    rule(staff, ruleType="ACCOUNT_ON_HOLD", action="HOLD")

    def apply_credit(checkout):
        ok(shopper_client.query(APPLY, {"id": gid("Checkout", checkout.pk)}),
           "checkoutStoreCreditApply")

    return the_order(place(before_complete=apply_credit))


def test_hold_then_release_confirms_and_charges_the_store_credit(
    place, staff, sc_client, customer_user
):
    order = _held_order_paid_with_credit(place, staff, sc_client(user=customer_user),
                                         customer_user)
    assert order.status == OrderStatus.UNCONFIRMED
    assert Hold.objects.get().status == HoldStatus.ACTIVE  # reserved, not yet charged

    released = ok(staff.query(RELEASE, {"id": gid("Order", order.pk), "reason": "paid by credit",
                                        "review": "2026-12-31"}),
                  "orderCreditHoldRelease")["hold"]

    assert released["status"] == "RELEASED"
    assert released["reviewDate"] == "2026-12-31"
    order.refresh_from_db()
    assert order.status == OrderStatus.UNFULFILLED
    assert Hold.objects.get().status == HoldStatus.CAPTURED
    assert Entry.objects.filter(kind="payment", order_id=order.pk).count() == 1
    assert order.private_metadata["store_credit.credit_hold"] == "released"
    confirmed = order.events.get(type=OrderEvents.CONFIRMED)
    assert confirmed.user_id == staff.user.pk
    assert CreditAudit.objects.get(kind="order_released").actor_label == staff.user.email
    assert events("order_released")[0]["data"]["reason"] == "paid by credit"
    again = staff.query(RELEASE, {"id": gid("Order", order.pk), "reason": "again"})
    assert again["data"]["orderCreditHoldRelease"]["errors"][0]["code"] == "ORDER_NOT_HELD"
    assert ledger_verify().ok


def test_reject_cancels_the_order_and_returns_the_reserved_credit(
    place, staff, sc_client, customer_user
):
    order = _held_order_paid_with_credit(place, staff, sc_client(user=customer_user),
                                         customer_user)

    rejected = ok(staff.query(REJECT, {"id": gid("Order", order.pk), "reason": "fraud risk"}),
                  "orderCreditHoldReject")["hold"]

    assert rejected["status"] == "REJECTED"
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert Hold.objects.get().status == HoldStatus.RELEASED
    assert not Entry.objects.filter(kind="payment").exists()
    assert events("order_rejected")[0]["data"]["reason"] == "fraud risk"
    assert ledger_verify().ok


def test_four_eyes_release_needs_a_second_staff_member(
    place, staff, second_staff, customer_user, order_total, store_credit_plugin
):
    store_credit_plugin.configuration += [{"name": conf.CREDIT_FOUR_EYES, "value": True}]
    store_credit_plugin.save()
    order = _place_with_rule(place, staff, customer_user, order_total, "ORDER_VALUE")
    order_gid = gid("Order", order.pk)

    requested = ok(staff.query(RELEASE, {"id": order_gid, "reason": "known customer"}),
                   "orderCreditHoldRelease")["hold"]
    assert requested["status"] == "RELEASE_REQUESTED"
    assert requested["requestedBy"] == staff.user.email
    order.refresh_from_db()
    assert order.status == OrderStatus.UNCONFIRMED

    own = staff.query(RELEASE, {"id": order_gid, "reason": "approve myself"})
    assert own["data"]["orderCreditHoldRelease"]["errors"][0]["code"] == "FOUR_EYES_REQUIRED"

    approved = ok(second_staff.query(RELEASE, {"id": order_gid, "reason": "approved"}),
                  "orderCreditHoldRelease")["hold"]
    assert approved["status"] == "RELEASED"
    assert approved["resolvedBy"] == "approver@example.com"
    order.refresh_from_db()
    assert order.status == OrderStatus.UNFULFILLED
    kinds = set(CreditAudit.objects.values_list("kind", flat=True))
    assert {"release_requested", "order_released"} <= kinds


def test_editing_a_held_order_rechecks_it(
    place, staff, customer_user, order_total, staff_api_client, permission_manage_orders
):
    order = _place_with_rule(place, staff, customer_user, order_total, "ORDER_VALUE")
    line = order.lines.get()
    assert line.quantity == 3
    grant(staff_api_client.user, permission_manage_orders)

    edited = staff_api_client.post_graphql(
        """mutation ($id: ID!) { orderLineUpdate(id: $id, input: {quantity: 1}) {
             errors { code message } } }""",
        {"id": gid("OrderLine", line.pk)},
    ).json()
    assert edited["data"]["orderLineUpdate"]["errors"] == []

    order.refresh_from_db()
    assert order.status == OrderStatus.UNFULFILLED
    hold = OrderHold.objects.get(order_id=order.pk)
    assert hold.status == "released"
    assert "order edited" in hold.resolution_reason


def test_periodic_evaluation_releases_orders_whose_reasons_are_gone(
    place, staff, customer_user, order_total
):
    from saleor_store_credit.tasks import evaluate_held_orders_task

    order = _place_with_rule(place, staff, customer_user, order_total, "LIMIT_EXCEEDED")
    assert evaluate_held_orders_task.delay().get()["unchanged"] == 1

    set_limit(staff, "customerId", gid("User", customer_user.pk), order_total)
    counts = evaluate_held_orders_task.delay().get()

    assert counts["released"] == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.UNFULFILLED
    assert CreditAudit.objects.get(kind="order_released").actor_type == "system"


def test_confirmation_outside_the_plugin_is_detected_and_recorded(
    place, staff, customer_user, order_total, staff_api_client, permission_manage_orders
):
    order = _place_with_rule(place, staff, customer_user, order_total, "ORDER_VALUE")
    grant(staff_api_client.user, permission_manage_orders)

    staff_api_client.post_graphql(
        "mutation ($id: ID!) { orderConfirm(id: $id) { errors { code } } }",
        {"id": gid("Order", order.pk)},
    )

    hold = OrderHold.objects.get(order_id=order.pk)
    assert hold.status == "confirmed_outside"
    assert hold.resolved_by_label == staff_api_client.user.email
    audit = CreditAudit.objects.get(kind="confirmed_outside")
    assert audit.data["external"] is True
    assert events("order_released")[0]["data"]["external"] is True
    listed = staff.query(HOLDS, {})["data"]["orderCreditHolds"]
    assert listed == []  # no longer awaiting review


def test_hold_list_filters(place, staff, customer_user, other_customer, order_total):
    order = _place_with_rule(place, staff, customer_user, order_total, "ORDER_VALUE")

    def ids(**variables):
        return [h["orderId"] for h in staff.query(HOLDS, variables)["data"]["orderCreditHolds"]]

    mine = [gid("Order", order.pk)]
    assert ids(reason="ORDER_VALUE") == mine
    assert ids(reason="ACCOUNT_ON_HOLD") == []
    assert ids(customer=gid("User", customer_user.pk)) == mine
    assert ids(customer=gid("User", other_customer.pk)) == []
    assert ids(channel=order.channel.slug) == mine
    # a channel the staff member cannot access (here: none such) is refused, as Saleor's
    # `orders(channel:)` does (saleor/graphql/order/resolvers.py resolve_orders)
    nowhere = staff.query(HOLDS, {"channel": "nowhere"})
    assert nowhere["errors"][0]["message"] == "You do not have access to the nowhere channel."
    assert ids(older=1) == []
    OrderHold.objects.update(created_at=timezone.now() - timedelta(hours=3))
    assert ids(older=1) == mine


def test_block_also_stops_order_create_from_checkout_by_an_app(
    place, staff, order_total, checkout_ready_to_complete, checkout_delivery, customer_user,
    app_api_client, permission_handle_checkouts,
):
    rule(staff, ruleType="ORDER_VALUE", action="BLOCK", currency="USD", threshold="1")
    checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
    app_api_client.app.permissions.add(permission_handle_checkouts)

    result = app_api_client.post_graphql(
        """mutation ($id: ID!) { orderCreateFromCheckout(id: $id) {
             order { id } errors { field code message } } }""",
        {"id": gid("Checkout", checkout.pk)},
    ).json()

    payload = result["data"]["orderCreateFromCheckout"]
    assert payload["order"] is None
    assert [e["code"] for e in payload["errors"]] == ["GRAPHQL_ERROR"], result
    assert not Order.objects.exists()


def test_the_audit_is_append_only(place, staff, order_total):
    from django.db import IntegrityError, transaction

    rule(staff, ruleType="ORDER_VALUE", action="WARN", currency="USD", threshold="1")
    row = CreditAudit.objects.first()
    for change in (lambda: CreditAudit.objects.filter(pk=row.pk).update(message="x"),
                   lambda: CreditAudit.objects.filter(pk=row.pk).delete()):
        with pytest.raises(IntegrityError), transaction.atomic():
            change()


def test_staff_decisions_take_idempotency_keys(place, staff, customer_user, order_total):
    order = _place_with_rule(place, staff, customer_user, order_total, "ORDER_VALUE")
    release = """mutation ($id: ID!, $reason: String!, $key: String) {
      orderCreditHoldRelease(id: $id, reason: $reason, idempotencyKey: $key) {
        hold { id status } errors { field code } } }"""
    variables = {"id": gid("Order", order.pk), "reason": "paid", "key": "release-1"}

    first = ok(staff.query(release, variables), "orderCreditHoldRelease")
    replay = ok(staff.query(release, variables), "orderCreditHoldRelease")  # no ORDER_NOT_HELD
    reused = staff.query(release, {**variables, "reason": "other"})

    assert first["hold"] == replay["hold"] and first["hold"]["status"] == "RELEASED"
    assert reused["data"]["orderCreditHoldRelease"]["errors"] == [
        {"field": "idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}
    ]
    assert CreditAudit.objects.filter(kind="order_released").count() == 1
    order.refresh_from_db()
    assert order.events.filter(type=OrderEvents.CONFIRMED).count() == 1

    limit = {"input": {"customerId": gid("User", customer_user.pk), "currency": "USD",
                       "amount": "50"}}
    query = LIMIT_SET.replace("($input: CreditLimitInput!)",
                              "($input: CreditLimitInput!, $key: String)").replace(
        "creditLimitSet(input: $input)", "creditLimitSet(input: $input, idempotencyKey: $key)")
    a = ok(staff.query(query, {**limit, "key": "limit-1"}), "creditLimitSet")
    b = ok(staff.query(query, {**limit, "key": "limit-1"}), "creditLimitSet")
    assert a["adjustment"]["id"] == b["adjustment"]["id"]
    assert CreditAudit.objects.filter(kind="limit_changed").count() == 1


# --- gift cards are payments on every supported Saleor ------------------------------------------


def test_gift_card_paid_part_of_an_order_does_not_count_as_exposure(
    place, staff, customer_user, order_total, gift_card
):
    # given a gift card on the checkout that pays 10.00 of the order (Saleor takes it
    # off the order total before 3.23 and may record it as a transaction after)
    gift_card.current_balance_amount = Decimal("10.00")
    gift_card.initial_balance_amount = Decimal("10.00")
    gift_card.save(update_fields=["current_balance_amount", "initial_balance_amount"])

    # when the order is placed unpaid on account for the rest
    order = the_order(place(before_complete=lambda checkout: checkout.gift_cards.add(gift_card)))

    # then only what the gift card did not pay is owed
    gift_card.refresh_from_db()
    assert gift_card.current_balance_amount == 0
    credit = staff.query(CUSTOMER_CREDIT, {"customer": gid("User", customer_user.pk)})
    exposure = Decimal(str(credit["data"]["customerCredit"]["exposure"]["amount"]))
    assert exposure == order_total - Decimal("10.00"), (order.total_gross_amount, exposure)
