"""Access control inside real Saleor (issue 15, items 1, 2, 3 and 5).

- channel access: staff whose permission groups are restricted to some channels get
  Saleor's own answer (`orderCancel` is the reference) from every order-scoped
  operation of the plugin; apps are not channel-restricted, as in Saleor;
- four-eyes: the second pair of eyes is a staff member who is not the first;
- blocking rules see the customer Saleor attaches a guest checkout to;
- the permission matrix (`saleor_store_credit.graphql.permissions.MATRIX`), every cell.
"""

from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from saleor.account.models import Group, User  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402
from saleor.order import OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402

from saleor_store_credit import conf  # noqa: E402
from saleor_store_credit.credit.models import (  # noqa: E402
    CreditAudit,
    CreditLimit,
    LimitAdjustment,
    OrderHold,
)
from saleor_store_credit.models import CreditMemo, Entry  # noqa: E402

from .fixtures import clone_checkout  # noqa: E402
from .test_checkout import COMPLETE, gid, grant  # noqa: E402
from . import test_credit, test_creditmemo  # noqa: E402
from .test_credit import (  # noqa: E402
    ADJ_CREATE,
    ADJ_STATUS,
    HOLDS,
    LIMIT_SET,
    PROFILE,
    REJECT,
    RELEASE,
    _place_with_rule,
    ok,
    rule,
)
from .test_creditmemo import MEMO  # noqa: E402

# fixtures shared with the credit management and credit memo tests
store_credit_config = test_credit.store_credit_config
hold_channel = test_credit.hold_channel
place = test_credit.place
order_total = test_credit.order_total
place_order = test_creditmemo.place_order

CHANNEL_DENIED = "You don't have access to some objects' channel."

SALEOR_ORDER_CANCEL = """
mutation ($id: ID!) { orderCancel(id: $id) { order { status } errors { code } } }
"""
HOLD = """
query ($id: ID!) { orderCreditHold(id: $id) { id status } }
"""
AUDIT = """
query ($order: ID) { creditAuditEvents(orderId: $order) { kind orderId } }
"""


def denied(content, message=None):
    [error] = content["errors"]
    assert error["extensions"]["exception"]["code"] == "PermissionDenied", content
    if message:
        assert error["message"] == message
    return error


@pytest.fixture
def all_perms(permission_manage_users, permission_manage_orders, permission_manage_payments,
              permission_manage_gift_card, permission_manage_settings):
    return [permission_manage_users, permission_manage_orders, permission_manage_payments,
            permission_manage_gift_card, permission_manage_settings]


@pytest.fixture
def admin(sc_client, all_perms):
    """Staff with every permission in every channel."""
    user = User.objects.create(email="admin@example.com", is_staff=True, is_active=True)
    grant(user, *all_perms)
    return sc_client(user=user)


def _staff_in_channels(email, channels, perms):
    user = User.objects.create(email=email, is_staff=True, is_active=True)
    group = Group.objects.create(name=f"only {email}", restricted_access_to_channels=True)
    group.permissions.add(*perms)
    group.channels.add(*channels)
    group.user_set.add(user)
    return user


@pytest.fixture
def outsider(sc_client, channel_PLN, all_perms):
    """Every permission, but only in another channel (PLN) than the orders' (USD)."""
    return sc_client(user=_staff_in_channels("outsider@example.com", [channel_PLN], all_perms))


@pytest.fixture
def insider(sc_client, channel_USD, all_perms):
    """Every permission, restricted to the orders' channel."""
    return sc_client(user=_staff_in_channels("insider@example.com", [channel_USD], all_perms))


@pytest.fixture
def held_order(place, admin, customer_user, order_total):
    order = _place_with_rule(place, admin, customer_user, order_total, "ORDER_VALUE")
    assert order.status == OrderStatus.UNCONFIRMED
    return order


# --- item 1: channel access -------------------------------------------------------------------


def test_saleor_itself_refuses_order_cancel_to_staff_of_another_channel(
    held_order, outsider
):
    # the reference behaviour the plugin mirrors
    content = ApiClient(user=outsider.user).post_graphql(
        SALEOR_ORDER_CANCEL, {"id": gid("Order", held_order.pk)}
    ).json()
    denied(content, CHANNEL_DENIED)
    held_order.refresh_from_db()
    assert held_order.status == OrderStatus.UNCONFIRMED


@pytest.mark.parametrize("mutation, name", [(RELEASE, "orderCreditHoldRelease"),
                                            (REJECT, "orderCreditHoldReject")],
                         ids=["release", "reject"])
def test_hold_decision_by_staff_of_another_channel_is_refused_and_changes_nothing(
    held_order, outsider, mutation, name
):
    for target in (gid("Order", held_order.pk),
                   gid("OrderCreditHold", OrderHold.objects.get().pk)):
        content = outsider.query(mutation, {"id": target, "reason": "not my channel"})

        denied(content, CHANNEL_DENIED)
        assert content["data"][name] is None
    held_order.refresh_from_db()
    assert held_order.status == OrderStatus.UNCONFIRMED
    assert OrderHold.objects.get().status == "held"
    assert not CreditAudit.objects.filter(
        kind__in=["order_released", "order_rejected", "release_requested"]).exists()


def test_hold_decision_by_staff_of_the_orders_channel_and_by_apps_is_allowed(
    held_order, insider, sc_client, app, permission_manage_orders
):
    released = ok(insider.query(RELEASE, {"id": gid("Order", held_order.pk),
                                          "reason": "known customer"}),
                  "orderCreditHoldRelease")["hold"]
    assert released["status"] == "RELEASED"

    # apps are not channel-restricted in Saleor (core/mutations.py check_channel_permissions)
    app.permissions.add(permission_manage_orders)
    hold = OrderHold.objects.get()
    content = sc_client(app=app).query(RELEASE, {"id": gid("Order", held_order.pk),
                                                 "reason": "again"})
    assert "errors" not in content
    assert content["data"]["orderCreditHoldRelease"]["errors"][0]["code"] == "ORDER_NOT_HELD"
    assert hold.pk == OrderHold.objects.get().pk


def test_held_order_views_show_staff_only_their_channels(
    held_order, outsider, insider, sc_client, app, permission_manage_orders,
    permission_manage_users
):
    hold_gid = gid("OrderCreditHold", OrderHold.objects.get().pk)
    order_gid = gid("Order", held_order.pk)

    assert outsider.query(HOLDS, {})["data"]["orderCreditHolds"] == []
    denied(outsider.query(HOLDS, {"channel": held_order.channel.slug}),
           f"You do not have access to the {held_order.channel.slug} channel.")
    denied(outsider.query(HOLD, {"id": hold_gid}), CHANNEL_DENIED)
    denied(outsider.query(AUDIT, {"order": order_gid}), CHANNEL_DENIED)
    # the customer-wide audit list leaves out rows of orders in other channels
    outsider_audit = outsider.query(AUDIT, {})["data"]["creditAuditEvents"]
    assert outsider_audit and all(row["orderId"] is None for row in outsider_audit)

    assert [h["orderId"] for h in insider.query(HOLDS, {})["data"]["orderCreditHolds"]] == [
        order_gid]
    assert insider.query(HOLD, {"id": hold_gid})["data"]["orderCreditHold"]["status"] == "HELD"
    assert order_gid in {row["orderId"] for row in
                         insider.query(AUDIT, {"order": order_gid})["data"]["creditAuditEvents"]}
    app.permissions.add(permission_manage_orders, permission_manage_users)
    assert len(sc_client(app=app).query(HOLDS, {})["data"]["orderCreditHolds"]) == 1


def test_staff_in_no_permission_group_have_no_channel_like_in_saleor(
    held_order, sc_client, all_perms
):
    user = User.objects.create(email="loose@example.com", is_staff=True, is_active=True)
    user.user_permissions.add(*all_perms)
    order_gid = gid("Order", held_order.pk)

    saleor = ApiClient(user=user).post_graphql(SALEOR_ORDER_CANCEL, {"id": order_gid}).json()
    ours = sc_client(user=user).query(REJECT, {"id": order_gid, "reason": "no group"})

    denied(saleor, CHANNEL_DENIED)
    denied(ours, CHANNEL_DENIED)
    held_order.refresh_from_db()
    assert held_order.status == OrderStatus.UNCONFIRMED


def test_credit_memo_by_staff_of_another_channel_is_refused_and_changes_nothing(
    place_order, outsider, insider, customer_user
):
    order, _total = place_order(None)
    line = order.lines.first()
    variables = {"order": gid("Order", order.pk), "input": {
        "lines": [{"lineId": gid("OrderLine", line.pk), "quantity": 1}],
        "reason": "damaged"}}

    content = outsider.query(MEMO, variables)

    denied(content, CHANNEL_DENIED)
    assert not CreditMemo.objects.exists() and not Entry.objects.exists()

    payload = insider.query(MEMO, variables)["data"]["orderCreditMemoCreate"]
    assert payload["errors"] == []
    assert Decimal(str(payload["creditMemo"]["amount"]["amount"])) == (
        line.unit_price_gross_amount)


def test_reimbursement_run_filtered_by_a_channel_of_no_access_is_refused(
    outsider, insider, held_order
):
    preview = """query ($input: ReimbursementRunInput!) {
      reimbursementRunPreview(input: $input) { count } }"""
    variables = {"input": {"currency": "USD", "minimumAmount": "1",
                           "channel": held_order.channel.slug}}

    denied(outsider.query(preview, variables),
           f"You do not have access to the {held_order.channel.slug} channel.")
    assert insider.query(preview, variables)["data"]["reimbursementRunPreview"]["count"] == 0


# --- item 2: four-eyes needs two people --------------------------------------------------------


@pytest.fixture
def four_eyes(store_credit_plugin):
    store_credit_plugin.configuration += [{"name": conf.CREDIT_FOUR_EYES, "value": True}]
    store_credit_plugin.save()


@pytest.fixture
def second_admin(sc_client, all_perms):
    user = User.objects.create(email="second@example.com", is_staff=True, is_active=True)
    grant(user, *all_perms)
    return sc_client(user=user)


@pytest.fixture
def app_client(sc_client, app, all_perms):
    """An app token with every permission (e.g. one the first staff member holds)."""
    app.permissions.add(*all_perms)
    return sc_client(app=app)


def _code(content, name):
    assert "errors" not in content, content
    return [e["code"] for e in content["data"][name]["errors"]]


def test_direct_limit_edit_with_four_eyes_on_is_refused_and_changes_nothing(
    four_eyes, admin, app_client, customer_user
):
    values = {"input": {"customerId": gid("User", customer_user.pk), "currency": "USD",
                        "amount": "5000"}}

    for caller in (admin, app_client):
        assert _code(caller.query(LIMIT_SET, values), "creditLimitSet") == [
            "FOUR_EYES_REQUIRED"]

    assert not CreditLimit.objects.exists() and not LimitAdjustment.objects.exists()
    assert not CreditAudit.objects.exists()


def test_direct_limit_edit_with_four_eyes_off_is_posted(admin, customer_user):
    values = {"input": {"customerId": gid("User", customer_user.pk), "currency": "USD",
                        "amount": "50"}}
    ok(admin.query(LIMIT_SET, values), "creditLimitSet")
    assert CreditLimit.objects.get(user=customer_user).amount == Decimal("50.00")


def test_submitter_cannot_approve_their_own_adjustment_with_an_app_token(
    four_eyes, admin, second_admin, app_client, customer_user
):
    draft = ok(admin.query(ADJ_CREATE, {"input": {
        "customerId": gid("User", customer_user.pk), "currency": "USD", "amount": "900",
        "reason": "raise"}}), "creditLimitAdjustmentCreate")["adjustment"]
    ok(admin.query(ADJ_STATUS, {"id": draft["id"], "action": "SUBMIT"}),
       "creditLimitAdjustmentUpdateStatus")

    by_app = app_client.query(ADJ_STATUS, {"id": draft["id"], "action": "APPROVE"})

    assert _code(by_app, "creditLimitAdjustmentUpdateStatus") == ["FOUR_EYES_REQUIRED"]
    row = LimitAdjustment.objects.get()
    assert row.status == "submitted" and row.approved_by == ""
    # a second staff member is a second person
    ok(second_admin.query(ADJ_STATUS, {"id": draft["id"], "action": "APPROVE"}),
       "creditLimitAdjustmentUpdateStatus")
    ok(admin.query(ADJ_STATUS, {"id": draft["id"], "action": "POST"}),
       "creditLimitAdjustmentUpdateStatus")
    assert CreditLimit.objects.get(user=customer_user).amount == Decimal("900.00")


def test_release_requester_cannot_complete_the_release_with_an_app_token(
    four_eyes, held_order, admin, second_admin, app_client
):
    order_gid = gid("Order", held_order.pk)
    requested = ok(admin.query(RELEASE, {"id": order_gid, "reason": "known customer"}),
                   "orderCreditHoldRelease")["hold"]
    assert requested["status"] == "RELEASE_REQUESTED"

    by_app = app_client.query(RELEASE, {"id": order_gid, "reason": "approved by me"})

    assert _code(by_app, "orderCreditHoldRelease") == ["FOUR_EYES_REQUIRED"]
    held_order.refresh_from_db()
    assert held_order.status == OrderStatus.UNCONFIRMED
    assert OrderHold.objects.get().status == "release_requested"
    released = ok(second_admin.query(RELEASE, {"id": order_gid, "reason": "approved"}),
                  "orderCreditHoldRelease")["hold"]
    assert released["status"] == "RELEASED"
    held_order.refresh_from_db()
    assert held_order.status == OrderStatus.UNFULFILLED


def test_a_release_requested_by_an_app_is_completed_by_staff(
    four_eyes, held_order, admin, app_client
):
    order_gid = gid("Order", held_order.pk)
    requested = ok(app_client.query(RELEASE, {"id": order_gid, "reason": "paid"}),
                   "orderCreditHoldRelease")["hold"]
    assert requested["status"] == "RELEASE_REQUESTED"

    released = ok(admin.query(RELEASE, {"id": order_gid, "reason": "checked"}),
                  "orderCreditHoldRelease")["hold"]

    assert released["status"] == "RELEASED"


# --- item 3: blocking rules see the customer behind a guest checkout ---------------------------


@pytest.fixture
def guest_checkout(hold_channel, checkout_ready_to_complete, checkout_delivery, customer_user):
    """A guest checkout (no user) with the customer's e-mail in other letter case."""

    def make(email=None):
        checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
        checkout.user = None
        checkout.email = email or customer_user.email.upper()
        checkout.save(update_fields=["user", "email"])
        return checkout

    return make


def _complete_as_guest(checkout):
    content = ApiClient().post_graphql(COMPLETE, {"id": gid("Checkout", checkout.pk)}).json()
    assert "errors" not in content, content
    return content["data"]["checkoutComplete"]


@pytest.mark.parametrize("how", ["account_on_hold", "customer_rule"])
def test_blocked_customer_cannot_check_out_as_a_guest_with_the_same_email(
    store_credit_plugin, admin, customer_user, guest_checkout, how
):
    customer = gid("User", customer_user.pk)
    if how == "account_on_hold":
        ok(admin.query(PROFILE, {"customer": customer, "onHold": True}),
           "customerCreditProfileUpdate")
        rule(admin, ruleType="ACCOUNT_ON_HOLD", action="BLOCK")
    else:
        rule(admin, ruleType="ORDER_VALUE", action="BLOCK", scope="CUSTOMER",
             customerId=customer, currency="USD", threshold="1")

    payload = _complete_as_guest(guest_checkout())

    assert payload["order"] is None
    assert [e["code"] for e in payload["errors"]] == ["CHECKOUT_NOT_FULLY_PAID"]
    assert not Order.objects.exists()
    assert CreditAudit.objects.get(kind="checkout_blocked").user_id == customer_user.pk


def test_guest_checkout_of_an_unknown_email_is_not_blocked_by_a_customer_rule(
    store_credit_plugin, admin, customer_user, guest_checkout
):
    ok(admin.query(PROFILE, {"customer": gid("User", customer_user.pk), "onHold": True}),
       "customerCreditProfileUpdate")
    rule(admin, ruleType="ACCOUNT_ON_HOLD", action="BLOCK")

    payload = _complete_as_guest(guest_checkout("stranger@example.com"))

    assert payload["errors"] == []
    order = Order.objects.get()
    assert order.user_id is None and order.status == OrderStatus.UNFULFILLED


def test_blocked_customer_is_also_recognised_in_an_apps_order_create_from_guest_checkout(
    store_credit_plugin, admin, customer_user, guest_checkout, app_api_client,
    permission_handle_checkouts
):
    ok(admin.query(PROFILE, {"customer": gid("User", customer_user.pk), "onHold": True}),
       "customerCreditProfileUpdate")
    rule(admin, ruleType="ACCOUNT_ON_HOLD", action="BLOCK")
    app_api_client.app.permissions.add(permission_handle_checkouts)

    result = app_api_client.post_graphql(
        """mutation ($id: ID!) { orderCreateFromCheckout(id: $id) {
             order { id } errors { field code message } } }""",
        {"id": gid("Checkout", guest_checkout().pk)},
    ).json()

    payload = result["data"]["orderCreateFromCheckout"]
    assert payload["order"] is None
    assert [e["code"] for e in payload["errors"]] == ["GRAPHQL_ERROR"], result
    assert not Order.objects.exists()


# --- item 5: the permission matrix, every cell ----------------------------------------------

NO_ID = {
    "StoreCreditAccount": gid("StoreCreditAccount", 0),
    "Order": gid("Order", "00000000-0000-0000-0000-000000000000"),
    "OrderCreditHold": gid("OrderCreditHold", 0),
    "Payout": gid("Payout", 0),
    "ReimbursementRun": gid("ReimbursementRun", 0),
    "CreditLimitAdjustment": gid("CreditLimitAdjustment", 0),
    "CreditBlockingRule": gid("CreditBlockingRule", 0),
    "StoreCreditWebhookDelivery": gid("StoreCreditWebhookDelivery", 0),
    "PaymentTerms": gid("PaymentTerms", 0),
    "CreditScoringGroup": gid("CreditScoringGroup", 0),
    "CreditRiskClass": gid("CreditRiskClass", 0),
    "CreditAutomaticLimitRule": gid("CreditAutomaticLimitRule", 0),
    "CreditCover": gid("CreditCover", 0),
    "CreditForcedHoldRule": gid("CreditForcedHoldRule", 0),
}
_CUSTOMER = "$c: ID!"
# operation -> (GraphQL document, the payload's field); `$c` is the customer's ID
CALLS = {
    "customerStoreCredit": (
        f"query ({_CUSTOMER}) {{ customerStoreCredit(customerId: $c) {{ email }} }}"),
    "storeCreditAdjust": (
        f"mutation ({_CUSTOMER}) {{ storeCreditAdjust(customerId: $c, amount: \"1.00\", "
        "currency: \"USD\", reason: \"goodwill\") { errors { code } } }"),
    "orderCreditMemoCreate": (
        f"mutation {{ orderCreditMemoCreate(orderId: \"{NO_ID['Order']}\", "
        "input: {amount: \"1.00\", reason: \"r\"}) { errors { code } } }"),
    "giftCardRedeemToStoreCredit(customerId)": (
        f"mutation ({_CUSTOMER}) {{ giftCardRedeemToStoreCredit(code: \"NOPE-NOPE-NOPE\", "
        "customerId: $c) { errors { code } } }"),
    "reimbursementRunPreview": (
        "query { reimbursementRunPreview(input: {currency: \"USD\", minimumAmount: \"1\"}) "
        "{ count } }"),
    "reimbursementRun": (
        f"query {{ reimbursementRun(id: \"{NO_ID['ReimbursementRun']}\") {{ id }} }}"),
    "reimbursementRuns": "query { reimbursementRuns { id } }",
    "reimbursementRunStart": (
        "mutation { reimbursementRunStart(input: {currency: \"USD\", minimumAmount: \"1\"}) "
        "{ errors { code } } }"),
    "payoutMarkPaid": (
        f"mutation {{ payoutMarkPaid(id: \"{NO_ID['Payout']}\", reference: \"x\") "
        "{ errors { code } } }"),
    "payoutMarkFailed": (
        f"mutation {{ payoutMarkFailed(id: \"{NO_ID['Payout']}\", note: \"x\") "
        "{ errors { code } } }"),
    "payoutVoid": (
        f"mutation {{ payoutVoid(id: \"{NO_ID['Payout']}\", note: \"x\") {{ errors {{ code }} }} }}"),
    "storeCreditPayoutDetailsSet": (
        f"mutation ({_CUSTOMER}) {{ storeCreditPayoutDetailsSet(customerId: $c, "
        "accountNumber: \"NL91ABNA0417164300\") { errors { code } } }"),
    "storeCreditWriteOffOrphaned": (
        f"mutation {{ storeCreditWriteOffOrphaned(accountId: \"{NO_ID['StoreCreditAccount']}\", "
        "reason: \"gone\") { errors { code } } }"),
    "customerCredit": (
        f"query ({_CUSTOMER}) {{ customerCredit(customerId: $c, currency: \"USD\") "
        "{ onHold } }"),
    "creditGroups": "query { creditGroups { id } }",
    "creditLimitAdjustments": "query { creditLimitAdjustments { id } }",
    "creditBlockingRules": "query { creditBlockingRules { id } }",
    "creditAuditEvents": "query { creditAuditEvents { id } }",
    "creditGroupSave": (
        "mutation { creditGroupSave(input: {name: \"B2B\"}) { errors { code } } }"),
    "customerCreditProfileUpdate": (
        f"mutation ({_CUSTOMER}) {{ customerCreditProfileUpdate(customerId: $c, "
        "currency: \"USD\", onHold: true) { errors { code } } }"),
    "creditLimitSet": (
        f"mutation ({_CUSTOMER}) {{ creditLimitSet(input: {{customerId: $c, "
        "currency: \"USD\", amount: \"10\"}) { errors { code } } }"),
    "creditLimitAdjustmentCreate": (
        f"mutation ({_CUSTOMER}) {{ creditLimitAdjustmentCreate(input: {{customerId: $c, "
        "currency: \"USD\", amount: \"10\"}) { errors { code } } }"),
    "creditLimitAdjustmentUpdateStatus": (
        "mutation { creditLimitAdjustmentUpdateStatus("
        f"id: \"{NO_ID['CreditLimitAdjustment']}\", action: SUBMIT) {{ errors {{ code }} }} }}"),
    "creditBlockingRuleSave": (
        "mutation { creditBlockingRuleSave(input: {name: \"r\", ruleType: ACCOUNT_ON_HOLD, "
        "action: WARN}) { errors { code } } }"),
    "creditBlockingRuleDelete": (
        f"mutation {{ creditBlockingRuleDelete(id: \"{NO_ID['CreditBlockingRule']}\") "
        "{ errors { code } } }"),
    "creditScoringGroups": "query { creditScoringGroups { id } }",
    "creditRiskClasses": "query { creditRiskClasses { id } }",
    "creditAutomaticLimitRules": "query { creditAutomaticLimitRules { id } }",
    "creditRiskScoreRuns": "query { creditRiskScoreRuns { id } }",
    "creditScoringGroupSave": (
        "mutation { creditScoringGroupSave(input: {name: \"S\", scoreTypes: [{kind: MANUAL, "
        "weight: \"1\", manualKey: \"k\", bands: [{points: \"50\"}]}]}) "
        "{ errors { code } } }"),
    "creditScoringGroupDelete": (
        f"mutation {{ creditScoringGroupDelete(id: \"{NO_ID['CreditScoringGroup']}\") "
        "{ errors { code } } }"),
    "creditRiskClassSave": (
        "mutation { creditRiskClassSave(input: {name: \"Low\", minScore: \"70\"}) "
        "{ errors { code } } }"),
    "creditRiskClassDelete": (
        f"mutation {{ creditRiskClassDelete(id: \"{NO_ID['CreditRiskClass']}\") "
        "{ errors { code } } }"),
    "creditAutomaticLimitRuleSave": (
        "mutation { creditAutomaticLimitRuleSave(input: {name: \"r\", "
        f"riskClassId: \"{NO_ID['CreditRiskClass']}\", currency: \"USD\", amount: \"1\"}}) "
        "{ errors { code } } }"),
    "creditAutomaticLimitRuleDelete": (
        "mutation { creditAutomaticLimitRuleDelete("
        f"id: \"{NO_ID['CreditAutomaticLimitRule']}\") {{ errors {{ code }} }} }}"),
    "customerManualScoreSet": (
        f"mutation ({_CUSTOMER}) {{ customerManualScoreSet(customerId: $c, key: \"k\", "
        "value: \"5\") { errors { code } } }"),
    "creditRiskScoresUpdate": "mutation { creditRiskScoresUpdate { errors { code } } }",
    "customerCreditCoverSave": (
        f"mutation ({_CUSTOMER}) {{ customerCreditCoverSave(input: {{customerId: $c, "
        "kind: GUARANTEE, coverType: \"bank\", currency: \"USD\", amount: \"10\", "
        "validFrom: \"2020-01-01T00:00:00+00:00\", validTo: \"2099-01-01T00:00:00+00:00\"}) "
        "{ errors { code } } }"),
    "customerCreditCoverCancel": (
        f"mutation {{ customerCreditCoverCancel(id: \"{NO_ID['CreditCover']}\", "
        "reason: \"x\") { errors { code } } }"),
    "creditForcedHoldRules": "query { creditForcedHoldRules { id } }",
    "creditForcedHolds": "query { creditForcedHolds { id } }",
    "creditForcedHoldRuleSave": (
        "mutation { creditForcedHoldRuleSave(input: {name: \"r\", condition: DAYS_OVERDUE, "
        "days: 30}) { errors { code } } }"),
    "creditForcedHoldRuleDelete": (
        f"mutation {{ creditForcedHoldRuleDelete(id: \"{NO_ID['CreditForcedHoldRule']}\") "
        "{ errors { code } } }"),
    "customerForcedHoldLift": (
        f"mutation ({_CUSTOMER}) {{ customerForcedHoldLift(customerId: $c, reason: \"ok\") "
        "{ errors { code } } }"),
    "creditForcedHoldsApply": "mutation { creditForcedHoldsApply { errors { code } } }",
    "orderCreditHoldsEvaluate": "mutation { orderCreditHoldsEvaluate { errors { code } } }",
    "orderCreditHolds": "query { orderCreditHolds { id } }",
    "orderCreditHold": (
        f"query {{ orderCreditHold(id: \"{NO_ID['OrderCreditHold']}\") {{ id }} }}"),
    "creditAuditEvents(orderId)": (
        f"query {{ creditAuditEvents(orderId: \"{NO_ID['Order']}\") {{ id }} }}"),
    "orderCreditHoldRelease": (
        f"mutation {{ orderCreditHoldRelease(id: \"{NO_ID['OrderCreditHold']}\", "
        "reason: \"ok\") { errors { code } } }"),
    "orderCreditHoldReject": (
        f"mutation {{ orderCreditHoldReject(id: \"{NO_ID['OrderCreditHold']}\", "
        "reason: \"no\") { errors { code } } }"),
    "paymentTerms": "query { paymentTerms { id } }",
    "paymentTermsAssignments": "query { paymentTermsAssignments { id } }",
    "customerPaymentTerms": (
        f"query ({_CUSTOMER}) {{ customerPaymentTerms(customerId: $c, channel: \"main\") "
        "{ source } }"),
    "paymentTermsSave": (
        "mutation { paymentTermsSave(input: {name: \"Net 30\", days: 30}) "
        "{ errors { code } } }"),
    "paymentTermsDelete": (
        f"mutation {{ paymentTermsDelete(id: \"{NO_ID['PaymentTerms']}\") "
        "{ errors { code } } }"),
    "paymentTermsAssign": (
        f"mutation ({_CUSTOMER}) {{ paymentTermsAssign(customerId: $c) "
        "{ errors { code } } }"),
    "orderPaymentTerms": (
        f"query {{ orderPaymentTerms(orderId: \"{NO_ID['Order']}\") {{ status }} }}"),
    "ordersOnTerms": "query { ordersOnTerms { status } }",
    "orderInvoicePaymentRecord": (
        f"mutation {{ orderInvoicePaymentRecord(orderId: \"{NO_ID['Order']}\", "
        "amount: \"1\") { errors { code } } }"),
    "storeCreditLiabilityReport": (
        "query { storeCreditLiabilityReport(start: \"2026-01-01T00:00:00+00:00\", "
        "end: \"2026-12-31T00:00:00+00:00\") { csv } }"),
    "storeCreditLedgerChecks": "query { storeCreditLedgerChecks { ok } }",
    "storeCreditWebhookDeliveries": "query { storeCreditWebhookDeliveries { id } }",
    "storeCreditWebhookRedeliver": (
        "mutation { storeCreditWebhookRedeliver("
        f"id: \"{NO_ID['StoreCreditWebhookDelivery']}\") {{ errors {{ code }} }} }}"),
    "storeCreditEmailDeliveries": "query { storeCreditEmailDeliveries { id } }",
    "storeCreditSettings": "query { storeCreditSettings { holdLifetimeMinutes } }",
}


def _matrix():
    from saleor_store_credit.graphql.permissions import MATRIX

    return MATRIX


def _cells():
    """(operation, who, permissions given, allowed) for every cell of the matrix."""
    cells = []
    for operation, (_area, needed) in _matrix().items():
        needed = [p.codename for p in needed]
        for who in ("staff", "app"):
            cells.append((operation, who, tuple(needed), True))
            for missing in needed:
                cells.append((operation, who, tuple(p for p in needed if p != missing),
                              False))
        cells.append((operation, "customer", tuple(), False))
        cells.append((operation, "anonymous", tuple(), False))
    return cells


def _cell_id(cell):
    operation, who, given, allowed = cell
    return f"{operation}-{who}-{'+'.join(given) or 'none'}-{'allowed' if allowed else 'refused'}"


def test_every_operation_of_the_schema_is_in_the_matrix():
    from saleor_store_credit.graphql.schema import schema

    owner_only = {"me", "checkoutStoreCredit", "checkoutStoreCreditApply",
                  "checkoutStoreCreditRemove", "checkoutPayOnAccount",
                  "checkoutPayOnAccountAuthorize", "checkoutPayOnAccountRemove"}
    fields = set(schema.get_query_type().fields) | set(schema.get_mutation_type().fields)
    listed = {name.split("(")[0] for name in _matrix()} | owner_only
    assert fields == listed
    assert set(CALLS) == set(_matrix())


def _counts():
    from saleor_store_credit.credit import risk_models
    from saleor_store_credit.credit.models import BlockingRule, CreditGroup, CreditProfile
    from saleor_store_credit.models import Payout, ReimbursementRun, WebhookDelivery

    return {model.__name__: model.objects.count() for model in (
        Entry, CreditMemo, Payout, ReimbursementRun, LimitAdjustment, CreditLimit,
        BlockingRule, CreditGroup, CreditProfile, WebhookDelivery,
        risk_models.ScoringGroup, risk_models.RiskClass, risk_models.AutomaticLimitRule,
        risk_models.ManualScoreValue, risk_models.RiskScoreRun, risk_models.CreditCover,
        risk_models.ForcedHoldRule, risk_models.ForcedHold, CreditAudit)}


@pytest.mark.parametrize("cell", _cells(), ids=_cell_id)
def test_permission_matrix_cell(cell, sc_client, customer_user, app):
    from saleor.permission.models import Permission

    operation, who, given, allowed = cell
    perms = list(Permission.objects.filter(codename__in=given))
    assert len(perms) == len(given)
    if who == "staff":
        user = User.objects.create(email="cell@example.com", is_staff=True, is_active=True)
        grant(user, *perms)
        client = sc_client(user=user)
    elif who == "app":
        app.permissions.set(perms)
        client = sc_client(app=app)
    elif who == "customer":
        client = sc_client(user=customer_user)
    else:
        client = sc_client()
    document = CALLS[operation]
    variables = {"c": gid("User", customer_user.pk)} if "$c" in document else None
    field = document.split("{", 1)[1].split("(")[0].split("{")[0].strip()
    before = _counts()

    content = client.query(document, variables)

    if allowed:
        assert "errors" not in content, content
        assert field in content["data"]
    else:
        denied(content)
        assert content["errors"][0]["message"].startswith("You do not have permission")
        # a refused non-null field nulls `data` itself (GraphQL's null propagation)
        assert content["data"] is None or content["data"][field] is None
        assert _counts() == before


def test_readme_permission_table_is_the_matrix():
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### Permission matrix", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = (match.group(2).strip(), match.group(3).strip())
    expected = {
        operation: (area, " + ".join(p.name for p in perms) or "staff or app")
        for operation, (area, perms) in _matrix().items()
    }
    assert rows == expected
