"""Risk scores, risk classes and automatic limits inside real Saleor (issue 19, item 3).

Orders are placed through Saleor's own `checkoutComplete` in a pay-later channel, paid
through Saleor's own `orderMarkAsPaid` and an app's `transactionCreate`, refunded with
the app's `transactionEventReport`; the score task reads those rows. Automatic limits
become journal lines that go through the journal's approval and four-eyes.
"""

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
from saleor.order.models import Order  # noqa: E402

from saleor_store_credit import conf  # noqa: E402
from saleor_store_credit.credit import risk  # noqa: E402
from saleor_store_credit.credit.models import (  # noqa: E402
    CreditAudit,
    CreditLimit,
    LimitAdjustment,
)
from saleor_store_credit.credit.risk_models import (  # noqa: E402
    CustomerRiskScore,
    RiskScoreRun,
    ScoringGroup,
)
from saleor_store_credit.ledger import Actor  # noqa: E402

from . import test_credit  # noqa: E402
from .support import TRANSACTION_CREATE_CHARGED, payment_app_client  # noqa: E402
from .test_checkout import gid, grant  # noqa: E402
from .test_credit import ADJ_STATUS, HOLDS, RULE_SAVE, events, ok, the_order  # noqa: E402

# fixtures shared with the credit management tests
hold_channel = test_credit.hold_channel
place = test_credit.place
order_total = test_credit.order_total
staff = test_credit.staff
second_staff = test_credit.second_staff
other_customer = test_credit.other_customer


@pytest.fixture
def store_credit_config():
    return {conf.CREDIT_CHANNELS: "*", conf.WEBHOOK_TARGETS: test_credit.HOOK,
            conf.WEBHOOK_SECRET: "secret"}


GROUP_SAVE = """
mutation ($id: ID, $input: CreditScoringGroupInput!) {
  creditScoringGroupSave(id: $id, input: $input) {
    scoringGroup { id name scoreTypes { kind weight bands { from to points } } }
    errors { field code message }
  }
}
"""
CLASS_SAVE = """
mutation ($id: ID, $input: CreditRiskClassInput!) {
  creditRiskClassSave(id: $id, input: $input) {
    riskClass { id name minScore } errors { field code message }
  }
}
"""
CLASS_DELETE = """
mutation ($id: ID!) { creditRiskClassDelete(id: $id) { deletedId errors { field code message } } }
"""
AUTO_LIMIT_SAVE = """
mutation ($id: ID, $input: CreditAutomaticLimitRuleInput!) {
  creditAutomaticLimitRuleSave(id: $id, input: $input) {
    rule { id name amount { amount } unlimited proposer { type label } }
    errors { field code message }
  }
}
"""
MANUAL_SET = """
mutation ($customer: ID!, $key: String!, $value: Decimal) {
  customerManualScoreSet(customerId: $customer, key: $key, value: $value) {
    value { key value setBy } errors { field code message }
  }
}
"""
SCORES_UPDATE = """
mutation { creditRiskScoresUpdate {
  run { id status total processed percent classChanges proposals startedBy }
  errors { field code message } } }
"""
RISK_OF = """
query ($customer: ID!) {
  customerCredit(customerId: $customer, currency: "USD") {
    riskScore { score riskClass { name } scoringGroup computedAt
      details { kind weight value points band { from to points } }
      manualValues { key value setBy } }
  }
}
"""
ADJUSTMENTS = """
query { creditLimitAdjustments { id status amount { amount } reason submittedBy
  createdBy { type label } } }
"""
MARK_AS_PAID = "mutation ($id: ID!) { orderMarkAsPaid(id: $id) { errors { field code message } } }"
EVENT_REPORT = """
mutation ($id: ID!, $amount: PositiveDecimal!, $psp: String!) {
  transactionEventReport(id: $id, type: REFUND_SUCCESS, amount: $amount, pspReference: $psp) {
    errors { field code message } } }
"""


def band(low, high, points):
    return {"from": None if low is None else str(low),
            "to": None if high is None else str(high), "points": str(points)}


def scoring_group(staff, score_types, **extra):
    payload = staff.query(GROUP_SAVE, {"input": {"name": extra.pop("name", "Default"),
                                                 "scoreTypes": score_types, **extra}})
    return ok(payload, "creditScoringGroupSave")["scoringGroup"]


def risk_classes(staff, **classes):
    return {name: ok(staff.query(CLASS_SAVE, {"input": {"name": name, "minScore": str(minimum)}}),
                     "creditRiskClassSave")["riskClass"]["id"]
            for name, minimum in classes.items()}


RUNS = """
query { creditRiskScoreRuns(first: 1) {
  id status total processed percent classChanges proposals startedBy error } }
"""


def run_scores(staff):
    """Start a run the way staff do; it runs in the background (Celery, eager here)
    after the mutation's commit: the run as the runs list shows it afterwards."""
    started = ok(staff.query(SCORES_UPDATE), "creditRiskScoresUpdate")["run"]
    [run] = staff.query(RUNS)["data"]["creditRiskScoreRuns"]
    assert run["id"] == started["id"] and run["startedBy"] == staff.user.email
    return run


def risk_of(staff, user):
    return staff.query(RISK_OF, {"customer": gid("User", user.pk)})["data"]["customerCredit"][
        "riskScore"]


def one_type_group(staff, kind="MANUAL", **extra):
    """A group scoring by one manual value: points = the band the value is in."""
    score_type = {"kind": kind, "weight": "1", "manualKey": "rating",
                  "bands": [band(0, 40, 10), band(40, 70, 50), band(70, None, 90)], **extra}
    return scoring_group(staff, [score_type])


def rate(staff, user, value):
    ok(staff.query(MANUAL_SET, {"customer": gid("User", user.pk), "key": "rating",
                                "value": str(value)}), "customerManualScoreSet")


def saleor_staff(user_permissions):
    user = User.objects.create(email="orders@example.com", is_staff=True, is_active=True)
    grant(user, *user_permissions)
    return ApiClient(user=user)


def place_at(place, days_ago):
    order = the_order(place())
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return Order.objects.get(pk=order.pk)


# --- the score, measured on real Saleor orders -----------------------------------------------


def test_risk_score_is_computed_from_the_customers_real_saleor_orders(
    place, staff, customer_user, order_total, permission_manage_orders,
    permission_manage_payments,
):
    # given three orders placed through Saleor's checkout on account
    paid_by_staff = place_at(place, 10)
    paid_by_app = place_at(place, 20)
    overdue = place_at(place, 40)
    # ... one marked as paid in the Dashboard ten days after it was placed,
    orders_staff = saleor_staff([permission_manage_orders])
    result = orders_staff.post_graphql(MARK_AS_PAID, {"id": gid("Order", paid_by_staff.pk)})
    assert result.json()["data"]["orderMarkAsPaid"]["errors"] == []
    # ... one paid by a payment app after twenty days and then partly refunded by it,
    app = payment_app_client(permission_manage_payments)
    created = app.post_graphql(TRANSACTION_CREATE_CHARGED, {
        "id": gid("Order", paid_by_app.pk), "amount": str(order_total), "psp": "pay-1"}).json()
    transaction_id = created["data"]["transactionCreate"]["transaction"]["id"]
    refunded = app.post_graphql(EVENT_REPORT, {"id": transaction_id, "amount": "1.00",
                                               "psp": "refund-1"}).json()
    assert refunded["data"]["transactionEventReport"]["errors"] == []
    # ... and one left unpaid for forty days; the customer joined 400 days ago
    User.objects.filter(pk=customer_user.pk).update(
        date_joined=timezone.now() - timedelta(days=400))
    ok(staff.query(MANUAL_SET, {"customer": gid("User", customer_user.pk), "key": "growth",
                                "value": "70"}), "customerManualScoreSet")
    scoring_group(staff, [
        {"kind": "ORDER_COUNT", "weight": "1", "periodDays": 365,
         "bands": [band(0, 2, 20), band(2, 5, 60), band(5, None, 100)]},
        {"kind": "ORDER_VALUE", "weight": "1", "currency": "USD",
         "bands": [band(0, 2 * order_total, 10), band(2 * order_total, None, 80)]},
        {"kind": "AVERAGE_DAYS_TO_PAY", "weight": "2",
         "bands": [band(0, 14, 100), band(14, 30, 50), band(30, None, 0)]},
        {"kind": "REFUNDED_SHARE", "weight": "1",
         "bands": [band(0, 10, 100), band(10, 50, 40), band(50, None, 0)]},
        {"kind": "MONTHS_AS_CUSTOMER", "weight": "1",
         "bands": [band(0, 12, 20), band(12, None, 90)]},
        {"kind": "OVERDUE_AMOUNT", "weight": "2", "currency": "USD", "days": 30,
         "bands": [band(0, "0.01", 100), band("0.01", None, 0)]},
        {"kind": "MANUAL", "weight": "1", "manualKey": "growth",
         "bands": [band(0, 50, 30), band(50, None, 70)]},
    ])
    risk_classes(staff, A=70, B=40, C=0)

    # when the score task runs
    run = run_scores(staff)

    # then each measure is what Saleor's rows say
    assert run["status"] == "COMPLETED" and run["percent"] == 100.0
    assert run["processed"] == run["total"] >= 1
    scored = risk_of(staff, customer_user)
    values = {d["kind"]: d for d in scored["details"]}
    assert values["ORDER_COUNT"]["value"] == "3" and values["ORDER_COUNT"]["points"] == "60"
    assert Decimal(values["ORDER_VALUE"]["value"]) == 3 * order_total
    days_to_pay = Decimal(values["AVERAGE_DAYS_TO_PAY"]["value"])  # (10 + 20) / 2
    assert Decimal("15.00") <= days_to_pay <= Decimal("15.01"), days_to_pay
    assert values["AVERAGE_DAYS_TO_PAY"]["points"] == "50"
    assert values["REFUNDED_SHARE"]["value"] == "33.33"  # 1 of 3 orders
    assert values["MONTHS_AS_CUSTOMER"]["value"] == "13"
    assert Decimal(values["OVERDUE_AMOUNT"]["value"]) == overdue.total_gross_amount
    assert values["OVERDUE_AMOUNT"]["points"] == "0"
    assert values["MANUAL"]["value"] == "70.0000" and values["MANUAL"]["points"] == "70"
    # ... and the score is the weighted average of the points: 440 / 9
    assert Decimal(str(scored["score"])) == Decimal("48.89")
    assert scored["riskClass"]["name"] == "B"
    assert scored["manualValues"] == [{"key": "growth", "value": 70,
                                       "setBy": staff.user.email}]


def test_a_measure_without_data_is_left_out_and_a_value_in_no_band_scores_zero(
    staff, customer_user, other_customer
):
    # given days to pay (no paid order: no data) and a manual rating with a gap in its bands
    scoring_group(staff, [
        {"kind": "AVERAGE_DAYS_TO_PAY", "weight": "5", "bands": [band(0, None, 100)]},
        {"kind": "MANUAL", "weight": "1", "manualKey": "rating",
         "bands": [band(0, 10, 40), band(20, None, 80)]},
    ])
    rate(staff, customer_user, 15)  # in the gap
    rate(staff, other_customer, 25)

    run_scores(staff)

    mine, theirs = risk_of(staff, customer_user), risk_of(staff, other_customer)
    assert Decimal(str(mine["score"])) == Decimal("0.00")  # only the rating counts: 0 points
    assert Decimal(str(theirs["score"])) == Decimal("80.00")
    no_data = next(d for d in mine["details"] if d["kind"] == "AVERAGE_DAYS_TO_PAY")
    assert no_data["value"] is None and no_data["points"] is None


def test_a_credit_groups_own_scoring_group_scores_its_members(
    staff, customer_user, other_customer
):
    from saleor_store_credit.credit.limits import save_group, update_profile

    group = save_group(actor=Actor.system(), name="Wholesale")
    update_profile(user=other_customer, actor=Actor.system(), group=group)
    one_type_group(staff)  # the default
    scoring_group(staff, [{"kind": "MANUAL", "weight": "1", "manualKey": "rating",
                           "bands": [band(0, None, 5)]}],
                  name="Wholesale scoring", creditGroupId=gid("CreditGroup", group.pk))
    rate(staff, customer_user, 80)
    rate(staff, other_customer, 80)

    run_scores(staff)

    assert risk_of(staff, customer_user)["scoringGroup"] == "Default"
    assert Decimal(str(risk_of(staff, customer_user)["score"])) == Decimal("90.00")
    assert risk_of(staff, other_customer)["scoringGroup"] == "Wholesale scoring"
    assert Decimal(str(risk_of(staff, other_customer)["score"])) == Decimal("5.00")


# --- bad setup is refused ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "score_type, field, code",
    [
        ({"weight": "0"}, "scoreTypes[0].weight", "INVALID"),
        ({"weight": "-1"}, "scoreTypes[0].weight", "INVALID"),
        ({"weight": "1001"}, "scoreTypes[0].weight", "INVALID"),
        ({"weight": "NaN"}, "scoreTypes[0].weight", "INVALID"),
        ({"weight": "1.001"}, "scoreTypes[0].weight", "INVALID"),
        ({"bands": []}, "scoreTypes[0].bands", "REQUIRED"),
        ({"bands": [band(0, 10, 50), band(5, 20, 60)]}, "scoreTypes[0].bands", "INVALID"),
        ({"bands": [band(None, 10, 50), band(None, 5, 60)]}, "scoreTypes[0].bands", "INVALID"),
        ({"bands": [band(0, None, 50), band(10, 20, 60)]}, "scoreTypes[0].bands", "INVALID"),
        ({"bands": [band(10, 10, 50)]}, "scoreTypes[0].bands[0].to", "INVALID"),
        ({"bands": [band(20, 10, 50)]}, "scoreTypes[0].bands[0].to", "INVALID"),
        ({"bands": [band(-5, 10, 50)]}, "scoreTypes[0].bands[0].from", "INVALID"),
        ({"bands": [band(0, 10, -1)]}, "scoreTypes[0].bands[0].points", "INVALID"),
        ({"bands": [band(0, 10, 101)]}, "scoreTypes[0].bands[0].points", "INVALID"),
        ({"bands": [band(0, "ten", 50)]}, "scoreTypes[0].bands[0].to", "INVALID"),
        ({"kind": "ORDER_VALUE"}, "scoreTypes[0].currency", "REQUIRED"),
        ({"kind": "ORDER_COUNT", "periodDays": 0}, "scoreTypes[0].periodDays", "INVALID"),
        ({"manualKey": ""}, "scoreTypes[0].manualKey", "REQUIRED"),
    ],
)
def test_bad_weights_and_bands_are_refused_and_nothing_is_saved(staff, score_type, field, code):
    values = {"kind": "MANUAL", "weight": "1", "manualKey": "rating",
              "bands": [band(0, None, 50)], **score_type}

    payload = staff.query(GROUP_SAVE, {"input": {"name": "Bad", "scoreTypes": [values]}})

    [error] = payload["data"]["creditScoringGroupSave"]["errors"]
    assert (error["field"], error["code"]) == (field, code), error
    assert not ScoringGroup.objects.exists()


def test_adjacent_bands_and_open_ends_are_accepted(staff):
    group = scoring_group(staff, [{"kind": "MANUAL", "weight": "2.5", "manualKey": "k",
                                   "bands": [band(10, None, 90), band(None, 10, 10)]}])

    assert group["scoreTypes"][0]["bands"] == [band(None, 10, 10), band(10, None, 90)]


def test_second_default_scoring_group_and_duplicate_class_minimums_are_refused(staff):
    one_type_group(staff)
    payload = staff.query(GROUP_SAVE, {"input": {"name": "Other", "scoreTypes": [
        {"kind": "MANUAL", "weight": "1", "manualKey": "x", "bands": [band(0, None, 1)]}]}})
    assert payload["data"]["creditScoringGroupSave"]["errors"][0]["field"] == "creditGroupId"

    risk_classes(staff, A=70)
    for name, minimum, field in (("B", "70", "minScore"), ("A", "10", "name"),
                                 ("C", "101", "minScore"), ("D", "-1", "minScore")):
        payload = staff.query(CLASS_SAVE, {"input": {"name": name, "minScore": minimum}})
        assert payload["data"]["creditRiskClassSave"]["errors"][0]["field"] == field


def test_staff_without_manage_users_cannot_change_the_scoring_setup(
    sc_client, permission_manage_orders
):
    orders_only = User.objects.create(email="orders-only@example.com", is_staff=True,
                                      is_active=True)
    grant(orders_only, permission_manage_orders)

    content = sc_client(user=orders_only).query(GROUP_SAVE, {"input": {
        "name": "X", "scoreTypes": [{"kind": "MANUAL", "weight": "1", "manualKey": "k",
                                     "bands": [band(0, None, 1)]}]}})

    assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
    assert not ScoringGroup.objects.exists()


# --- class changes: one webhook per change -----------------------------------------------------


def test_risk_class_change_sends_one_webhook_per_change(staff, customer_user):
    one_type_group(staff)
    risk_classes(staff, Low=70, Medium=40, High=0)
    rate(staff, customer_user, 80)

    run_scores(staff)
    run_scores(staff)  # nothing changed
    rate(staff, customer_user, 20)
    run_scores(staff)

    sent = [p["data"] for p in events("risk_class_changed")]
    assert [(e["previous_risk_class"], e["risk_class"]) for e in sent] == [
        (None, "Low"), ("Low", "High")]
    assert sent[1]["customer_id"] == customer_user.pk and sent[1]["score"] == "10.00"
    assert CreditAudit.objects.filter(kind="risk_class_changed").count() == 2


def test_class_in_use_by_a_rule_cannot_be_deleted(staff):
    classes = risk_classes(staff, High=0)
    ok(staff.query(RULE_SAVE, {"input": {"name": "high risk", "ruleType": "ORDER_VALUE",
                                         "action": "HOLD", "currency": "USD", "threshold": "1",
                                         "riskClassId": classes["High"]}}),
       "creditBlockingRuleSave")

    payload = staff.query(CLASS_DELETE, {"id": classes["High"]})

    assert payload["data"]["creditRiskClassDelete"]["errors"][0]["code"] == "INVALID_STATUS"


# --- automatic limits go through the journal ---------------------------------------------------


@pytest.fixture
def four_eyes(store_credit_plugin):
    store_credit_plugin.configuration.append({"name": conf.CREDIT_FOUR_EYES, "value": True})
    store_credit_plugin.save(update_fields=["configuration"])
    conf.forget_settings()
    return store_credit_plugin


def auto_limit(staff, class_id, amount, **extra):
    return ok(staff.query(AUTO_LIMIT_SAVE, {"input": {
        "name": extra.pop("name", f"limit {amount}"), "riskClassId": class_id,
        "currency": "USD", "amount": str(amount), **extra}}), "creditAutomaticLimitRuleSave"
    )["rule"]


def adjust(client, adjustment_id, action):
    return client.query(ADJ_STATUS, {"id": adjustment_id, "action": action})[
        "data"]["creditLimitAdjustmentUpdateStatus"]


def test_automatic_limit_is_proposed_in_the_journal_and_its_rules_author_cannot_approve(
    four_eyes, staff, second_staff, customer_user
):
    # given a rule "class Low gets 5000" written by `staff`, and a customer in Low
    one_type_group(staff)
    classes = risk_classes(staff, Low=70, High=0)
    rule = auto_limit(staff, classes["Low"], "5000.00", validDays=365)
    assert rule["proposer"]["label"] == staff.user.email
    rate(staff, customer_user, 80)

    # when the score task runs
    run = run_scores(staff)

    # then one journal line is proposed, not posted: the limit is unchanged
    assert run["proposals"] == 1
    [line] = staff.query(ADJUSTMENTS)["data"]["creditLimitAdjustments"]
    assert line["status"] == "SUBMITTED" and line["amount"]["amount"] == Decimal("5000.00")
    assert line["submittedBy"] == f"staff:{staff.user.pk}"
    assert "risk class Low" in line["reason"]
    assert not CreditLimit.objects.filter(user=customer_user).exists()
    # ... the rule's author cannot approve what their rule proposed (four-eyes)
    refused = adjust(staff, line["id"], "APPROVE")
    assert refused["errors"][0]["code"] == "FOUR_EYES_REQUIRED"
    # ... a second staff member approves, then it is posted
    assert adjust(second_staff, line["id"], "APPROVE")["errors"] == []
    assert adjust(second_staff, line["id"], "POST")["errors"] == []
    limit = CreditLimit.objects.get(user=customer_user, currency="USD")
    assert limit.amount == Decimal("5000.00")
    assert limit.expires_on == (timezone.now() + timedelta(days=365)).date()

    # and the next run proposes nothing: the limit is what the class gives
    assert run_scores(staff)["proposals"] == 0
    assert LimitAdjustment.objects.count() == 1


def test_a_stale_proposal_is_superseded_and_a_rejected_one_is_not_proposed_again(
    staff, customer_user
):
    one_type_group(staff)
    classes = risk_classes(staff, Low=70, High=0)
    auto_limit(staff, classes["Low"], "5000.00")
    auto_limit(staff, classes["High"], "0.00")
    rate(staff, customer_user, 80)
    run_scores(staff)
    first = LimitAdjustment.objects.get()

    # the customer drops to High before anyone approved the Low proposal
    rate(staff, customer_user, 10)
    run_scores(staff)

    first.refresh_from_db()
    assert first.status == "rejected" and first.origin_ref.endswith(";superseded")
    second = LimitAdjustment.objects.get(status="submitted")
    assert second.amount == Decimal("0.00")

    # staff reject it: the same proposal is not made again while nothing changes
    assert adjust(staff, gid("CreditLimitAdjustment", second.pk), "REJECT")["errors"] == []
    assert run_scores(staff)["proposals"] == 0
    assert LimitAdjustment.objects.filter(status="submitted").count() == 0


def test_highest_matching_automatic_limit_wins_and_a_condition_must_hold(
    staff, customer_user, other_customer
):
    scoring_group(staff, [
        {"kind": "MANUAL", "weight": "1", "manualKey": "rating", "bands": [band(0, None, 80)]},
        {"kind": "MANUAL", "weight": "1", "manualKey": "years", "bands": [band(0, None, 80)]},
    ])
    classes = risk_classes(staff, Low=70)
    auto_limit(staff, classes["Low"], "1000.00", name="base")
    auto_limit(staff, classes["Low"], "2000.00", name="5 years",
               conditionKind="MANUAL", conditionKey="years", conditionMin="5")
    for user, years in ((customer_user, 6), (other_customer, 2)):
        rate(staff, user, 50)
        ok(staff.query(MANUAL_SET, {"customer": gid("User", user.pk), "key": "years",
                                    "value": str(years)}), "customerManualScoreSet")

    run_scores(staff)

    proposed = dict(LimitAdjustment.objects.values_list("user_id", "amount"))
    assert proposed == {customer_user.pk: Decimal("2000.0000"),
                        other_customer.pk: Decimal("1000.0000")}


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_report_each_change_once_and_propose_once(
    store_credit_plugin, staff_user, customer_user
):
    # given a customer about to enter class Low, which gets 5000
    from saleor_store_credit.credit.risk_models import RiskClass

    actor = Actor.for_user(staff_user)
    risk.save_scoring_group(actor=actor, name="Default", score_types=[{
        "kind": "manual", "weight": "1", "manual_key": "rating",
        "bands": [band(0, None, 80)]}])
    low = risk.save_risk_class(actor=actor, name="Low", min_score="70")
    risk.save_risk_class(actor=actor, name="High", min_score="0")
    risk.save_automatic_limit_rule(actor=actor, name="low", risk_class=low, currency="USD",
                                   amount="5000")
    risk.set_manual_score(actor=actor, user=customer_user, key="rating", value="1")
    assert RiskClass.objects.count() == 2
    barrier = threading.Barrier(2)
    runs, failures = [], []

    def run():
        try:
            barrier.wait()
            runs.append(risk.update_risk_scores(batch_size=1))
        except Exception as exc:  # asserted below
            failures.append(exc)
        finally:
            connection.close()

    # when two processes' worth of runs score at the same time (own DB connections)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    # then the change is reported once and one journal line is proposed
    assert failures == []
    assert sorted(r.status for r in runs) == ["completed", "completed"]
    assert sum(r.class_changes for r in runs) == 1
    assert CreditAudit.objects.filter(kind="risk_class_changed").count() == 1
    assert LimitAdjustment.objects.filter(origin="risk_class").count() == 1
    assert CustomerRiskScore.objects.get(user=customer_user).risk_class.name == "Low"
    assert RiskScoreRun.objects.count() == 2


# --- rules narrowed to a risk class ---------------------------------------------------------


def test_blocking_rule_narrowed_to_a_risk_class_holds_only_that_class(
    place, staff, customer_user, other_customer, order_total
):
    one_type_group(staff)
    classes = risk_classes(staff, Low=70, High=0)
    rate(staff, customer_user, 10)  # High
    rate(staff, other_customer, 90)  # Low
    run_scores(staff)
    ok(staff.query(RULE_SAVE, {"input": {
        "name": "high risk pays first", "ruleType": "ORDER_VALUE", "action": "HOLD",
        "currency": "USD", "threshold": "1", "riskClassId": classes["High"]}}),
       "creditBlockingRuleSave")

    risky = the_order(place(customer_user))
    trusted = the_order(place(other_customer))

    assert risky.status == "unconfirmed" and trusted.status == "unfulfilled"
    [held] = staff.query(HOLDS, {})["data"]["orderCreditHolds"]
    assert held["orderId"] == gid("Order", risky.pk)


def test_a_class_narrowed_rule_is_more_specific_than_the_general_one(
    place, staff, customer_user, order_total
):
    # given a general hold over 1.00 and, for class Low, one over a million
    one_type_group(staff)
    classes = risk_classes(staff, Low=70, High=0)
    rate(staff, customer_user, 90)
    run_scores(staff)
    for threshold, narrowed in (("1", None), ("1000000", classes["Low"])):
        ok(staff.query(RULE_SAVE, {"input": {
            "name": f"over {threshold}", "ruleType": "ORDER_VALUE", "action": "HOLD",
            "currency": "USD", "threshold": threshold, "riskClassId": narrowed}}),
           "creditBlockingRuleSave")

    # then a Low customer's order is judged by the Low rule only: it passes
    assert the_order(place()).status == "unfulfilled"
