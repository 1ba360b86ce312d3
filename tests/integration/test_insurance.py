"""Credit insurance and guarantees inside real Saleor (issue 19, item 4): they raise
or cap the customer's credit limit while valid, stop counting by themselves when they
expire, are shown with the customer's credit and audited."""

import time
from datetime import datetime, timedelta
from datetime import timezone as tz
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.db import IntegrityError, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from saleor_store_credit import conf  # noqa: E402
from saleor_store_credit.credit import holds, rules  # noqa: E402
from saleor_store_credit.credit.models import CreditAudit, OrderHold  # noqa: E402
from saleor_store_credit.credit.risk_models import CreditCover  # noqa: E402
from saleor_store_credit.ledger import Actor  # noqa: E402

from . import test_credit  # noqa: E402
from .test_checkout import gid  # noqa: E402
from .test_credit import REJECT, ok, rule, set_limit, the_order  # noqa: E402

store_credit_config = test_credit.store_credit_config
hold_channel = test_credit.hold_channel
place = test_credit.place
order_total = test_credit.order_total
staff = test_credit.staff

COVER_SAVE = """
mutation ($id: ID, $input: CreditCoverInput!) {
  customerCreditCoverSave(id: $id, input: $input) {
    cover { id kind provider coverType reference amount { amount currency } validFrom validTo
            active recordedBy }
    errors { field code message }
  }
}
"""
COVER_CANCEL = """
mutation ($id: ID!, $reason: String!) {
  customerCreditCoverCancel(id: $id, reason: $reason) {
    cover { active cancelledAt cancelReason } errors { field code message }
  }
}
"""
CREDIT = """
query ($customer: ID!) {
  customerCredit(customerId: $customer, currency: "USD") {
    limit { amount { amount } unlimited } limitWithoutCover { amount { amount } }
    insuranceCover { amount } availableCredit { amount }
    covers { kind provider amount { amount } active }
  }
}
"""


def configure(plugin, **values):
    names = {"caps": conf.CREDIT_COVER_CAPS_LIMIT}
    for key, value in values.items():
        plugin.configuration = [item for item in plugin.configuration
                                if item["name"] != names[key]]
        plugin.configuration.append({"name": names[key], "value": value})
    plugin.save(update_fields=["configuration"])
    conf.forget_settings()


def cover(staff, user, *, kind="GUARANTEE", amount="50.00", valid_from=None, valid_to=None,
          **extra):
    now = timezone.now()
    values = {
        "customerId": gid("User", user.pk), "kind": kind, "currency": "USD",
        "amount": str(amount),
        "validFrom": (valid_from or now - timedelta(days=1)).isoformat(),
        "validTo": (valid_to or now + timedelta(days=30)).isoformat(),
        **({"coverType": "bank guarantee"} if kind == "GUARANTEE" else {"provider": "Atradius"}),
        **extra,
    }
    return staff.query(COVER_SAVE, {"input": values})["data"]["customerCreditCoverSave"]


def credit_of(staff, user):
    return staff.query(CREDIT, {"customer": gid("User", user.pk)})["data"]["customerCredit"]


# --- raising and capping ---------------------------------------------------------------------


def test_a_guarantee_raises_the_limit_so_the_order_passes(
    place, staff, customer_user, order_total
):
    # given a limit just below the order, held without a guarantee
    set_limit(staff, "customerId", gid("User", customer_user.pk), order_total - 10)
    rule(staff, ruleType="LIMIT_EXCEEDED", action="HOLD")
    held = the_order(place())
    assert held.status == "unconfirmed"
    ok(staff.query(REJECT, {"id": gid("Order", held.pk), "reason": "no cover"}),
       "orderCreditHoldReject")  # cancelled: out of the exposure

    # when a guarantee of 50 is recorded
    payload = cover(staff, customer_user, amount="50.00", reference="G-1")

    # then it shows with the customer's credit and raises the limit in force
    assert payload["errors"] == []
    assert payload["cover"]["active"] is True
    assert payload["cover"]["recordedBy"] == staff.user.email
    shown = credit_of(staff, customer_user)
    assert Decimal(str(shown["limit"]["amount"]["amount"])) == order_total + 40
    assert Decimal(str(shown["limitWithoutCover"]["amount"]["amount"])) == order_total - 10
    assert shown["insuranceCover"]["amount"] == 50
    assert [(c["kind"], c["active"]) for c in shown["covers"]] == [("GUARANTEE", True)]
    # ... and the same order now passes the credit check
    order = the_order(place())
    assert order.status == "unfulfilled"
    passed = CreditAudit.objects.get(kind="check_passed", order_id=order.pk)
    assert passed.data["figures"]["insurance_cover"] == "50.00"


def test_with_capping_on_insurance_caps_the_limit_so_the_order_is_held(
    place, staff, customer_user, order_total, store_credit_plugin
):
    configure(store_credit_plugin, caps=True)
    set_limit(staff, "customerId", gid("User", customer_user.pk), order_total * 10)
    rule(staff, ruleType="LIMIT_EXCEEDED", action="HOLD")
    assert cover(staff, customer_user, kind="INSURANCE", amount=order_total - 1)["errors"] == []

    order = the_order(place())

    assert order.status == "unconfirmed"
    hold = OrderHold.objects.get(order_id=order.pk)
    assert hold.reasons[0]["values"]["limit"] == str(order_total - 1)
    shown = credit_of(staff, customer_user)
    assert Decimal(str(shown["limit"]["amount"]["amount"])) == order_total - 1


def test_capping_leaves_customers_without_cover_alone_and_caps_unlimited_ones(
    staff, customer_user, store_credit_plugin
):
    from saleor.account.models import User

    configure(store_credit_plugin, caps=True)
    other = User.objects.create(email="uncovered@example.com", is_active=True)
    set_limit(staff, "customerId", gid("User", other.pk), "500")
    set_limit(staff, "customerId", gid("User", customer_user.pk), unlimited=True)
    cover(staff, customer_user, amount="75.00")

    assert credit_of(staff, other)["limit"]["amount"]["amount"] == 500
    assert credit_of(staff, other)["insuranceCover"] is None
    capped = credit_of(staff, customer_user)["limit"]
    assert capped["unlimited"] is False and capped["amount"]["amount"] == 75


def test_raising_keeps_unlimited_unlimited_and_a_customer_without_a_limit_without_one(
    staff, customer_user
):
    from saleor.account.models import User

    no_limit = User.objects.create(email="nolimit@example.com", is_active=True)
    set_limit(staff, "customerId", gid("User", customer_user.pk), unlimited=True)
    cover(staff, customer_user)
    cover(staff, no_limit)

    assert credit_of(staff, customer_user)["limit"]["unlimited"] is True
    assert credit_of(staff, no_limit)["limit"] is None
    assert credit_of(staff, no_limit)["insuranceCover"]["amount"] == 50


# --- validity by date, no task ----------------------------------------------------------------


def test_a_guarantee_expiring_at_noon_counts_until_then_and_not_at_noon(customer_user):
    # given a limit of 100 and a guarantee of 40 that ends today at 12:00 UTC
    from saleor_store_credit.credit import limits

    limits.set_limit_directly(actor=Actor.system(), settings=conf.StoreCreditSettings(),
                              user=customer_user, currency="USD", amount="100")
    noon = datetime.now(tz.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    CreditCover.objects.create(
        user=customer_user, kind="guarantee", cover_type="parent company", currency="USD",
        amount=Decimal("40"), valid_from=noon - timedelta(days=7), valid_to=noon,
        actor_type="system",
    )

    def limit_at(moment):
        subject = holds.customer_subject(customer_user.pk, "USD", order_total=Decimal(0),
                                         now=moment)
        return rules.Figures(subject).customer_limit().amount

    # then: one microsecond before noon it counts, at noon it does not, nothing ran
    assert limit_at(noon - timedelta(microseconds=1)) == Decimal("140")
    assert limit_at(noon) == Decimal("100")
    assert limit_at(noon - timedelta(days=8)) == Decimal("100")  # not yet valid


def test_an_expired_cover_stops_counting_by_itself(staff, customer_user):
    set_limit(staff, "customerId", gid("User", customer_user.pk), "100")
    soon = timezone.now() + timedelta(seconds=3)
    assert cover(staff, customer_user, valid_to=soon)["errors"] == []
    assert credit_of(staff, customer_user)["limit"]["amount"]["amount"] == 150

    time.sleep(max(0, (soon - timezone.now()).total_seconds()) + 0.2)

    shown = credit_of(staff, customer_user)
    assert shown["limit"]["amount"]["amount"] == 100
    assert shown["covers"][0]["active"] is False


# --- bad input, audit, cancel --------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, field, code",
    [
        ({"validTo": "-1"}, "validTo", "INVALID"),  # before validFrom
        ({"validTo": "0"}, "validTo", "INVALID"),  # equal to validFrom
        ({"validFrom": "-10", "validTo": "-5"}, "validTo", "INVALID"),  # already over
        ({"amount": "0"}, "amount", "INVALID_AMOUNT"),
        ({"amount": "-5"}, "amount", "INVALID_AMOUNT"),
        ({"amount": "NaN"}, "amount", "INVALID_AMOUNT"),
        ({"amount": "1.001"}, "amount", "INVALID_AMOUNT"),
        ({"currency": "XXZ"}, "currency", "INVALID_CURRENCY"),
        ({"kind": "INSURANCE", "provider": ""}, "provider", "REQUIRED"),
        ({"coverType": ""}, "coverType", "REQUIRED"),
    ],
)
def test_bad_cover_input_is_refused_and_nothing_is_saved(staff, customer_user, values, field,
                                                         code):
    start = timezone.now() + timedelta(days=1)
    days = {"validFrom": "0", "validTo": "30"}
    for key in ("validFrom", "validTo"):
        if key in values:
            days[key] = values.pop(key)
    payload = cover(staff, customer_user,
                    valid_from=start + timedelta(days=int(days["validFrom"])),
                    valid_to=start + timedelta(days=int(days["validTo"])), **values)

    [error] = payload["errors"]
    assert (error["field"], error["code"]) == (field, code), error
    assert not CreditCover.objects.exists()
    assert not CreditAudit.objects.filter(kind="cover_changed").exists()


def test_the_database_refuses_a_period_that_ends_before_it_starts(customer_user):
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditCover.objects.create(user=customer_user, kind="guarantee", currency="USD",
                                   amount=Decimal(1), valid_from=now,
                                   valid_to=now - timedelta(seconds=1), actor_type="system")


def test_changes_and_cancellation_are_audited_and_a_cancelled_cover_stops_counting(
    staff, customer_user
):
    set_limit(staff, "customerId", gid("User", customer_user.pk), "100")
    created = cover(staff, customer_user, kind="INSURANCE", amount="20.00")["cover"]
    changed = staff.query(COVER_SAVE, {"id": created["id"], "input": {
        "kind": "INSURANCE", "provider": "Allianz Trade", "currency": "USD", "amount": "30.00",
        "validFrom": created["validFrom"], "validTo": created["validTo"]}})
    assert changed["data"]["customerCreditCoverSave"]["errors"] == []
    assert credit_of(staff, customer_user)["limit"]["amount"]["amount"] == 130

    cancelled = staff.query(COVER_CANCEL, {"id": created["id"], "reason": "policy ended"})
    again = staff.query(COVER_CANCEL, {"id": created["id"], "reason": "twice"})

    assert cancelled["data"]["customerCreditCoverCancel"]["cover"]["active"] is False
    assert again["data"]["customerCreditCoverCancel"]["errors"][0]["code"] == "INVALID_STATUS"
    assert credit_of(staff, customer_user)["limit"]["amount"]["amount"] == 100
    rows = list(CreditAudit.objects.filter(kind="cover_changed").order_by("pk"))
    assert [r.actor_label for r in rows] == [staff.user.email] * 3
    assert rows[1].data["before"]["amount"] == "20.00"
    assert rows[1].data["after"]["amount"] == "30.00"
    assert rows[1].data["after"]["provider"] == "Allianz Trade"
    assert rows[2].data["reason"] == "policy ended"


def test_group_limits_are_not_changed_by_a_members_cover(staff, customer_user):
    from saleor_store_credit.credit.limits import save_group, update_profile

    group = save_group(actor=Actor.system(), name="Holding")
    update_profile(user=customer_user, actor=Actor.system(), group=group)
    set_limit(staff, "groupId", gid("CreditGroup", group.pk), "200")
    cover(staff, customer_user, amount="500.00")

    subject = holds.customer_subject(customer_user.pk, "USD", order_total=Decimal(0))
    figures = rules.Figures(subject)

    assert figures.group_limit().amount == Decimal("200")
    assert figures.customer_limit() is None  # no limit of their own: nothing to raise


# --- personal data -------------------------------------------------------------------------


def test_deleting_a_customer_or_a_staff_member_leaves_no_personal_data_in_the_risk_tables(
    store_credit_plugin, customer_user
):
    from saleor.account.models import User

    from saleor_store_credit.credit import forced_hold, insurance as covers, risk
    from saleor_store_credit.credit.risk_models import ForcedHold as ForcedHoldRow

    from .test_personal_data import plugin_rows_containing

    # given a customer and a staff member named in every risk table
    officer = User.objects.create(email="officer.x@example.com", first_name="Olga",
                                  last_name="Quartermain", is_staff=True, is_active=True)
    doomed = User.objects.create(email="doomed.y@example.com", first_name="Dora",
                                 last_name="Vandermolen", is_active=True)
    actor = Actor.for_user(officer)
    high = risk.save_risk_class(actor=actor, name="Dora Vandermolen's class", min_score="0")
    risk.save_scoring_group(actor=actor, name="for doomed.y@example.com", score_types=[{
        "kind": "manual", "weight": "1", "manual_key": "k", "bands": [{"points": "5"}]}])
    risk.save_automatic_limit_rule(actor=actor, name="Dora Vandermolen", risk_class=high,
                                   currency="USD", amount="10")
    risk.set_manual_score(actor=actor, user=doomed, key="k", value="3")
    risk.set_manual_score(actor=actor, user=customer_user, key="k", value="3")
    now = timezone.now()
    covers.save_cover(actor=actor, user=customer_user, kind="guarantee",
                      cover_type="guarantee by Dora Vandermolen", currency="USD",
                      amount="5", valid_from=now, valid_to=now + timedelta(days=1))
    rule = forced_hold.save_rule(actor=actor, data={"name": "Olga Quartermain's rule",
                                                    "condition": "risk_class",
                                                    "risk_class": high})
    ForcedHoldRow.objects.create(user=customer_user, rule=rule, rule_name=rule.name,
                                 message="held by officer.x@example.com")
    forced_hold.lift(customer_user, actor=actor, reason="asked by Dora Vandermolen")
    assert plugin_rows_containing("doomed.y@example.com")
    assert plugin_rows_containing("officer.x@example.com")

    # when Saleor deletes both
    doomed.delete()
    officer.delete()

    # then neither e-mail nor full name is left in any plugin table
    for needle in ("doomed.y@example.com", "Dora Vandermolen", "officer.x@example.com",
                   "Olga Quartermain"):
        assert plugin_rows_containing(needle) == [], needle
