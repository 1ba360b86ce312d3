"""Forced credit holds and "ready to release" inside real Saleor (issue 19, item 5).

A periodic task puts accounts on forced hold when a rule's condition holds; such holds
are never released by the system; "evaluate for release" marks held orders ready to
release and releases them itself only where the configuration says so."""

import threading
from datetime import timedelta

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from saleor.account.models import User  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402
from saleor.order.models import Order  # noqa: E402

from saleor_store_credit import conf  # noqa: E402
from saleor_store_credit.credit import forced_hold  # noqa: E402
from saleor_store_credit.credit.models import CreditAudit, OrderHold  # noqa: E402
from saleor_store_credit.credit.risk_models import ForcedHold, ForcedHoldRule  # noqa: E402
from saleor_store_credit.tasks import (  # noqa: E402
    apply_forced_credit_holds_task,
    evaluate_held_orders_task,
)

from . import test_credit  # noqa: E402
from .test_checkout import gid, grant  # noqa: E402
from .test_credit import HOLDS, RELEASE, events, ok, rule, the_order  # noqa: E402

hold_channel = test_credit.hold_channel
place = test_credit.place
order_total = test_credit.order_total
staff = test_credit.staff
other_customer = test_credit.other_customer


@pytest.fixture
def store_credit_config():
    return {conf.CREDIT_CHANNELS: "*", conf.WEBHOOK_TARGETS: test_credit.HOOK,
            conf.WEBHOOK_SECRET: "secret"}


RULE_SAVE = """
mutation ($input: CreditForcedHoldRuleInput!) {
  creditForcedHoldRuleSave(input: $input) {
    rule { id name condition days threshold currency } errors { field code message }
  }
}
"""
APPLY = """
mutation { creditForcedHoldsApply {
  counts { placed already liftedInForce rearmed ordersMarked } errors { code } } }
"""
LIFT = """
mutation ($customer: ID!, $reason: String!, $until: Date) {
  customerForcedHoldLift(customerId: $customer, reason: $reason, until: $until) {
    forcedHold { status liftedBy liftReason liftedUntil } errors { field code message }
  }
}
"""
EVALUATE = """
mutation ($customer: ID) { orderCreditHoldsEvaluate(customerId: $customer) {
  evaluation { released ready updated unchanged inactive } errors { code } } }
"""
CREDIT = """
query ($customer: ID!) { customerCredit(customerId: $customer, currency: "USD") {
  forcedHold { status ruleName message values } heldOrders } }
"""
READY_HOLDS = """
query ($ready: Boolean, $forced: Boolean) {
  orderCreditHolds(readyToRelease: $ready, forced: $forced) {
    id orderId status forced readyToRelease readyToReleaseAt reasons { ruleName message } }
}
"""
MARK_AS_PAID = "mutation ($id: ID!) { orderMarkAsPaid(id: $id) { errors { field code message } } }"


def configure(plugin, name, value):
    plugin.configuration = [i for i in plugin.configuration if i["name"] != name]
    plugin.configuration.append({"name": name, "value": value})
    plugin.save(update_fields=["configuration"])
    conf.forget_settings()


def forced_rule(staff, **values):
    values.setdefault("name", "over 30 days overdue")
    values.setdefault("condition", "DAYS_OVERDUE")
    if values["condition"] == "DAYS_OVERDUE":
        values.setdefault("days", 30)
    return ok(staff.query(RULE_SAVE, {"input": values}), "creditForcedHoldRuleSave")["rule"]


def overdue_order(place, user=None, days=40):
    order = the_order(place(user))
    assert order.status == "unfulfilled"  # passed: placed on account
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(days=days))
    return order


def mark_paid(order, permission_manage_orders):
    cashier = User.objects.create(email=f"cashier{order.number}@example.com", is_staff=True,
                                  is_active=True)
    grant(cashier, permission_manage_orders)
    result = ApiClient(user=cashier).post_graphql(MARK_AS_PAID, {"id": gid("Order", order.pk)})
    assert result.json()["data"]["orderMarkAsPaid"]["errors"] == []


def held(order) -> OrderHold:
    return OrderHold.objects.get(order_id=order.pk)


# --- placing forced holds ---------------------------------------------------------------------


def test_days_overdue_over_n_puts_the_account_on_forced_hold_once(
    place, staff, customer_user, other_customer
):
    # given a customer with an order unpaid for 40 days, another with a fresh one
    overdue_order(place)
    overdue_order(place, other_customer, days=5)
    forced_rule(staff, days=30)

    # when the periodic task runs, twice
    first = apply_forced_credit_holds_task.delay().get()
    second = apply_forced_credit_holds_task.delay().get()

    # then only the overdue customer's account is on forced hold, placed once
    assert (first["placed"], second["placed"], second["already"]) == (1, 0, 1)
    hold = ForcedHold.objects.get()
    assert hold.user_id == customer_user.pk and hold.status == "active"
    assert hold.values["days_overdue"] == 40
    shown = staff.query(CREDIT, {"customer": gid("User", customer_user.pk)})["data"][
        "customerCredit"]["forcedHold"]
    assert shown["status"] == "ACTIVE" and "40 days overdue (over 30)" in shown["message"]
    assert [e["data"]["user_id"] for e in events("forced_hold_placed")] == [str(customer_user.pk)]
    assert CreditAudit.objects.filter(kind="forced_hold_placed").count() == 1


def test_a_new_order_of_an_account_on_forced_hold_is_held_without_any_blocking_rule(
    place, staff, customer_user
):
    overdue_order(place)
    forced_rule(staff)
    apply_forced_credit_holds_task.delay().get()

    order = the_order(place())

    assert order.status == "unconfirmed"
    hold = held(order)
    assert hold.forced is True and hold.reason_types == ["account_on_hold"]
    assert hold.reasons[0]["rule_name"] == "Forced credit hold"
    assert hold.reasons[0]["values"]["forced"] == "true"


def test_orders_already_held_become_forced(place, staff, customer_user, order_total):
    # given an overdue order, and a newer one held by an ordinary rule
    overdue_order(place)
    rule(staff, ruleType="ORDER_VALUE", action="HOLD", currency="USD", threshold="1")
    waiting = the_order(place())
    assert held(waiting).forced is False
    forced_rule(staff)

    # when staff run the forced hold task now
    counts = ok(staff.query(APPLY), "creditForcedHoldsApply")["counts"]

    # then the account is on forced hold and the held order became forced

    assert counts["placed"] == 1 and counts["ordersMarked"] == 1
    assert held(waiting).forced is True
    notes = [e.parameters["message"] for e in waiting.events.filter(type="note_added")]
    assert any("released by staff only" in n for n in notes)


def test_overdue_amount_and_risk_class_conditions_and_group_narrowing(
    place, staff, customer_user, other_customer, order_total
):
    from saleor_store_credit.credit.limits import save_group, update_profile
    from saleor_store_credit.credit.risk_models import CustomerRiskScore, RiskClass
    from saleor_store_credit.ledger import Actor

    overdue_order(place)
    overdue_order(place, other_customer)
    group = save_group(actor=Actor.system(), name="Retail")
    update_profile(user=other_customer, actor=Actor.system(), group=group)
    forced_rule(staff, name="overdue amount, retail only", condition="OVERDUE_AMOUNT",
                currency="USD", threshold=str(order_total - 1), days=30,
                groupId=gid("CreditGroup", group.pk))
    high = RiskClass.objects.create(name="High", min_score=0)
    CustomerRiskScore.objects.create(user=customer_user, risk_class=high)
    forced_rule(staff, name="high risk", condition="RISK_CLASS",
                riskClassId=gid("CreditRiskClass", high.pk))

    apply_forced_credit_holds_task.delay().get()

    reasons = dict(ForcedHold.objects.values_list("user_id", "rule_name"))
    assert reasons == {other_customer.pk: "overdue amount, retail only",
                       customer_user.pk: "high risk"}


@pytest.mark.parametrize(
    "values, field",
    [
        ({"condition": "DAYS_OVERDUE"}, "days"),
        ({"condition": "DAYS_OVERDUE", "days": -1}, "days"),
        ({"condition": "OVERDUE_AMOUNT", "threshold": "10"}, "currency"),
        ({"condition": "OVERDUE_AMOUNT", "currency": "USD"}, "threshold"),
        ({"condition": "OVERDUE_AMOUNT", "currency": "USD", "threshold": "-1"}, "threshold"),
        ({"condition": "RISK_CLASS"}, "riskClassId"),
        ({"condition": "DAYS_OVERDUE", "days": 3, "name": " "}, "name"),
    ],
)
def test_bad_forced_hold_rules_are_refused(staff, values, field):
    values.setdefault("name", "r")
    payload = staff.query(RULE_SAVE, {"input": values})

    [error] = payload["data"]["creditForcedHoldRuleSave"]["errors"]
    assert error["field"] == field, error
    assert not ForcedHoldRule.objects.exists()


# --- never released by the system; ready to release ----------------------------------------


def test_a_forced_hold_is_only_marked_ready_when_its_reason_is_gone_and_staff_release_it(
    place, staff, customer_user, permission_manage_orders
):
    # given an account on forced hold with a held new order
    overdue = overdue_order(place)
    forced_rule(staff)
    apply_forced_credit_holds_task.delay().get()
    order = the_order(place())
    assert evaluate_held_orders_task.delay().get()["unchanged"] == 1
    # ... staff lift the account's hold after the customer paid the overdue order
    mark_paid(overdue, permission_manage_orders)
    lifted = ok(staff.query(LIFT, {"customer": gid("User", customer_user.pk),
                                   "reason": "paid by bank transfer"}), "customerForcedHoldLift")
    assert lifted["forcedHold"]["status"] == "LIFTED"

    # when evaluate-for-release runs (periodic), twice
    first = evaluate_held_orders_task.delay().get()
    second = evaluate_held_orders_task.delay().get()

    # then the forced order is not released: it is marked ready to release, once
    assert (first["ready"], first["released"], second["unchanged"]) == (1, 0, 1)
    order.refresh_from_db()
    assert order.status == "unconfirmed"
    [listed] = staff.query(READY_HOLDS, {"ready": True})["data"]["orderCreditHolds"]
    assert listed["forced"] is True and listed["readyToRelease"] is True
    assert [e["data"]["order_id"] for e in events("order_ready_to_release")] == [str(order.pk)]
    order_events = [e.parameters.get("message", "") for e in order.events.all()]
    assert any(m.startswith("Ready to release") for m in order_events)
    # ... and a staff release confirms it
    released = ok(staff.query(RELEASE, {"id": listed["id"], "reason": "cleared"}),
                  "orderCreditHoldRelease")
    assert released["hold"]["status"] == "RELEASED"
    order.refresh_from_db()
    assert order.status == "unfulfilled"


def test_an_account_forced_hold_is_not_lifted_by_the_system_when_the_condition_clears(
    place, staff, customer_user, permission_manage_orders
):
    overdue = overdue_order(place)
    forced_rule(staff)
    apply_forced_credit_holds_task.delay().get()

    mark_paid(overdue, permission_manage_orders)  # nothing overdue any more
    apply_forced_credit_holds_task.delay().get()
    evaluate_held_orders_task.delay().get()

    assert ForcedHold.objects.get().status == "active"
    assert the_order(place()).status == "unconfirmed"  # new orders still held


def test_without_automatic_release_an_ordinary_hold_is_marked_ready_and_unmarked_when_reasons_return(
    place, staff, customer_user, order_total, store_credit_plugin
):
    configure(store_credit_plugin, conf.CREDIT_AUTO_RELEASE_CHANNELS, "")
    limit = test_credit.set_limit(staff, "customerId", gid("User", customer_user.pk),
                                  order_total - 1)
    assert limit["status"] == "POSTED"
    rule(staff, ruleType="LIMIT_EXCEEDED", action="HOLD")
    order = the_order(place())
    test_credit.set_limit(staff, "customerId", gid("User", customer_user.pk), order_total)

    counts = ok(staff.query(EVALUATE, {}), "orderCreditHoldsEvaluate")["evaluation"]

    assert counts["ready"] == 1 and counts["released"] == 0
    hold = held(order)
    assert hold.status == "held" and hold.forced is False and hold.ready_to_release_at
    # the reason comes back (limit lowered again): no longer ready
    test_credit.set_limit(staff, "customerId", gid("User", customer_user.pk), "1")
    assert ok(staff.query(EVALUATE, {}), "orderCreditHoldsEvaluate")["evaluation"][
        "updated"] == 1
    assert held(order).ready_to_release_at is None
    # with automatic release on for the channel, a ready hold is released
    configure(store_credit_plugin, conf.CREDIT_AUTO_RELEASE_CHANNELS, order.channel.slug)
    test_credit.set_limit(staff, "customerId", gid("User", customer_user.pk), order_total)
    assert ok(staff.query(EVALUATE, {}), "orderCreditHoldsEvaluate")["evaluation"][
        "released"] == 1
    order.refresh_from_db()
    assert order.status == "unfulfilled"


# --- staff lift vs the task ------------------------------------------------------------------


def test_a_staff_lift_is_not_undone_by_the_task_until_its_review_date(
    place, staff, customer_user
):
    overdue_order(place)
    forced_rule(staff)
    apply_forced_credit_holds_task.delay().get()
    until = (timezone.now() + timedelta(days=7)).date()
    ok(staff.query(LIFT, {"customer": gid("User", customer_user.pk), "reason": "promised",
                          "until": until.isoformat()}), "customerForcedHoldLift")

    # still overdue: the task leaves the lifted account alone
    counts = apply_forced_credit_holds_task.delay().get()
    assert counts["lifted_in_force"] == 1 and counts["placed"] == 0
    assert the_order(place()).status == "unfulfilled"  # not held any more

    # once the review date has passed, a still-overdue account is held again
    ForcedHold.objects.update(lifted_until=timezone.now().date() - timedelta(days=1))
    counts = apply_forced_credit_holds_task.delay().get()
    assert counts["rearmed"] == 1 and counts["placed"] == 1
    assert ForcedHold.objects.filter(status="active").count() == 1
    assert len(events("forced_hold_placed")) == 2
    assert len(events("forced_hold_lifted")) == 1


def test_a_lift_without_date_holds_until_the_customer_stops_meeting_the_rule(
    place, staff, customer_user, permission_manage_orders
):
    first = overdue_order(place)
    forced_rule(staff)
    apply_forced_credit_holds_task.delay().get()
    ok(staff.query(LIFT, {"customer": gid("User", customer_user.pk), "reason": "ok"}),
       "customerForcedHoldLift")
    assert apply_forced_credit_holds_task.delay().get()["lifted_in_force"] == 1

    mark_paid(first, permission_manage_orders)  # no longer overdue: the lift is re-armed
    assert apply_forced_credit_holds_task.delay().get()["rearmed"] == 1
    overdue_order(place)  # overdue again later
    assert apply_forced_credit_holds_task.delay().get()["placed"] == 1


def test_a_staff_release_of_a_forced_order_sticks_and_the_account_stays_on_hold(
    place, staff, customer_user
):
    overdue_order(place)
    forced_rule(staff)
    apply_forced_credit_holds_task.delay().get()
    order = the_order(place())
    ok(staff.query(RELEASE, {"id": gid("Order", order.pk), "reason": "known customer"}),
       "orderCreditHoldRelease")

    apply_forced_credit_holds_task.delay().get()
    evaluate_held_orders_task.delay().get()

    order.refresh_from_db()
    assert order.status == "unfulfilled" and held(order).status == "released"
    assert ForcedHold.objects.get().status == "active"
    assert the_order(place()).status == "unconfirmed"  # the next order is held


def test_lifting_needs_a_reason_and_an_account_on_hold(staff, customer_user):
    no_hold = staff.query(LIFT, {"customer": gid("User", customer_user.pk), "reason": "x"})
    no_reason = staff.query(LIFT, {"customer": gid("User", customer_user.pk), "reason": " "})

    assert no_hold["data"]["customerForcedHoldLift"]["errors"][0]["code"] == "INVALID_STATUS"
    assert no_reason["data"]["customerForcedHoldLift"]["errors"][0]["code"] == "REQUIRED"


# --- two task runs at once ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_task_runs_at_once_place_one_forced_hold(
    store_credit_plugin, customer_user, channel_USD
):
    from saleor.order.models import Order as SaleorOrder

    SaleorOrder.objects.create(
        user=customer_user, channel=channel_USD, currency="USD", status="unfulfilled",
        total_gross_amount=100, total_net_amount=100, undiscounted_total_gross_amount=100,
        undiscounted_total_net_amount=100, lines_count=1,
        created_at=timezone.now() - timedelta(days=45), user_email=customer_user.email,
    )
    SaleorOrder.objects.update(created_at=timezone.now() - timedelta(days=45))
    ForcedHoldRule.objects.create(name="30 days", condition="days_overdue", days=30,
                                  actor_type="system")
    barrier = threading.Barrier(2)
    results, failures = [], []

    def run():
        try:
            barrier.wait()
            results.append(forced_hold.apply_forced_holds())
        except Exception as exc:  # asserted below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    assert sorted(r["placed"] for r in results) == [0, 1]
    assert ForcedHold.objects.count() == 1
    assert CreditAudit.objects.filter(kind="forced_hold_placed").count() == 1
    assert len(events("forced_hold_placed")) == 1


def test_hold_list_shows_forced_holds(place, staff, customer_user):
    overdue_order(place)
    forced_rule(staff)
    apply_forced_credit_holds_task.delay().get()
    order = the_order(place())

    forced = staff.query(READY_HOLDS, {"forced": True})["data"]["orderCreditHolds"]
    plain = staff.query(HOLDS, {})["data"]["orderCreditHolds"]

    assert [h["orderId"] for h in forced] == [gid("Order", order.pk)]
    assert [h["orderId"] for h in plain] == [gid("Order", order.pk)]
