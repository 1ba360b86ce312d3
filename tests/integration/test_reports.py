"""Liability report and reconciliation through the plugin API, inside real Saleor."""

import csv
import io
from datetime import timedelta

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.utils import timezone  # noqa: E402

from saleor_store_credit.models import Account  # noqa: E402
from saleor_store_credit.tasks import reconcile_ledger_task  # noqa: E402

from .test_checkout import fund, grant  # noqa: E402

REPORT = """
query ($start: DateTime!, $end: DateTime!) {
  storeCreditLiabilityReport(start: $start, end: $end) {
    rows { currency opening issued spent closing } csv } }
"""


def test_liability_report_matches_account_balances(
    sc_client, staff_user, customer_user, permission_manage_payments
):
    fund(customer_user, "70.00")
    fund(staff_user, "5.00")
    grant(staff_user, permission_manage_payments)
    now = timezone.now()

    content = sc_client(user=staff_user).query(
        REPORT, {"start": (now - timedelta(days=1)).isoformat(),
                 "end": (now + timedelta(minutes=1)).isoformat()}
    )

    row = content["data"]["storeCreditLiabilityReport"]["rows"][0]
    total = sum(a.balance for a in Account.objects.filter(currency="USD"))
    assert row["currency"] == "USD"
    assert row["closing"] == float(total) == 75
    assert row["issued"] == 75 and row["opening"] == 0
    assert "USD,0.00,75.00" in content["data"]["storeCreditLiabilityReport"]["csv"]


def test_report_needs_handle_payments(sc_client, staff_user):
    now = timezone.now().isoformat()
    content = sc_client(user=staff_user).query(REPORT, {"start": now, "end": now})
    assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"


def test_nightly_reconciliation_runs_through_celery_and_is_visible_to_staff(
    sc_client, staff_user, customer_user, permission_manage_settings
):
    account = fund(customer_user, "9.00")
    assert reconcile_ledger_task.delay().get() is True
    Account.objects.filter(pk=account.pk).update(balance=8)
    assert reconcile_ledger_task.delay().get() is False

    staff_user.user_permissions.add(permission_manage_settings)
    checks = sc_client(user=staff_user).query(
        "{ storeCreditLedgerChecks { ok accountsChecked drift } }"
    )["data"]["storeCreditLedgerChecks"]
    assert [c["ok"] for c in checks] == [False, True]
    assert '"account_id": %d' % account.pk in checks[0]["drift"]


def test_movements_by_channel_add_up_to_the_currency_rows(
    sc_client, staff_user, customer_user, permission_manage_payments,
    shopper_checkout, user_api_client,
):
    from .test_checkout import APPLY, COMPLETE, checkout_total, gid

    fund(customer_user, "500.00")
    total = checkout_total(shopper_checkout)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    sc_client(user=customer_user).query(APPLY, {"id": checkout_gid})
    user_api_client.post_graphql(COMPLETE, {"id": checkout_gid})
    grant(staff_user, permission_manage_payments)
    now = timezone.now()

    report = sc_client(user=staff_user).query(
        """query ($start: DateTime!, $end: DateTime!) {
             storeCreditLiabilityReport(start: $start, end: $end) {
               rows { currency issued spent }
               byChannel { currency channel issued spent } } }""",
        {"start": (now - timedelta(days=1)).isoformat(),
         "end": (now + timedelta(minutes=1)).isoformat()},
    )
    report = report["data"]["storeCreditLiabilityReport"]

    by_channel = {row["channel"]: row for row in report["byChannel"]}
    assert set(by_channel) == {"", shopper_checkout.channel.slug}
    assert by_channel[shopper_checkout.channel.slug]["spent"] == float(total)
    assert by_channel[""]["issued"] == 500 and by_channel[""]["spent"] == 0
    [usd] = report["rows"]
    for movement in ("issued", "spent"):
        assert sum(row[movement] for row in report["byChannel"]) == usd[movement]


def test_liability_csv_neutralises_cells_that_a_spreadsheet_would_run_as_formulas():
    # given report rows whose text cell is a formula (the API only ever puts a
    # validated currency code there; the writer must not rely on that)
    from decimal import Decimal

    from saleor_store_credit.reports import LiabilityRow, liability_csv

    zero = Decimal("0.00")
    rows = [LiabilityRow(currency=text, opening=zero, issued=Decimal("5.00"), refunded=zero,
                         reversed=zero, spent=zero, paid_out=zero, expired=zero,
                         deducted=Decimal("7.00"), closing=Decimal("-2.00"))
            for text in ("=A1", "+A1", "-A1", "@A1", "\tA1", "\rA1", "USD")]

    # when
    parsed = list(csv.DictReader(io.StringIO(liability_csv(rows))))

    # then
    assert [r["currency"] for r in parsed] == [
        "'=A1", "'+A1", "'-A1", "'@A1", "'\tA1", "'\rA1", "USD"]
    assert {r["closing"] for r in parsed} == {"-2.00"}  # a number stays a number


def test_liability_report_refuses_text_that_is_not_a_currency_code(
    sc_client, staff_user, customer_user, permission_manage_payments
):
    fund(customer_user, "5.00")
    Account.objects.filter(user=customer_user).update(currency="=A1")
    grant(staff_user, permission_manage_payments)
    now = timezone.now()

    content = sc_client(user=staff_user).query(
        REPORT, {"start": (now - timedelta(days=1)).isoformat(),
                 "end": (now + timedelta(minutes=1)).isoformat()}
    )

    assert content["errors"][0]["extensions"]["exception"]["code"] == "invalid_currency"
