from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from saleor_store_credit.ledger import (
    Actor,
    adjust,
    capture_hold,
    credit,
    place_hold,
)
from saleor_store_credit.models import Account, LedgerCheck
from saleor_store_credit.reports import liability_csv, liability_report, reconcile

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system()


def test_liability_report_totals_equal_the_ledger(make_account, staff):
    usd = make_account("100.00")  # issued
    eur = make_account("40.00", currency="EUR")
    credit(account=usd, amount="10", kind="credit_memo", actor=staff)
    credit(account=usd, amount="5", kind="gift_card", actor=staff)
    hold = place_hold(account=usd, amount="30", actor=staff)
    capture_hold(hold=hold, amount="25", actor=staff)  # spent 25
    credit(account=usd, amount="4", kind="refund", actor=staff)
    adjust(account=usd, amount="-6", reason="correction", actor=staff)
    credit(account=eur, amount="2", kind="payout_reversal", actor=staff)

    rows = {r.currency: r for r in liability_report(
        start=timezone.now() - timedelta(days=1), end=timezone.now() + timedelta(seconds=1)
    )}

    usd_row = rows["USD"]
    assert (usd_row.opening, usd_row.issued, usd_row.spent, usd_row.refunded,
            usd_row.deducted) == (0, Decimal("115.00"), Decimal("25.00"), Decimal("4.00"),
                                  Decimal("6.00"))
    assert usd_row.closing == Account.objects.get(pk=usd.pk).balance == Decimal("88.00")
    assert rows["EUR"].closing == Decimal("42.00") and rows["EUR"].reversed == 2
    assert all(r.balanced() for r in rows.values())
    text = liability_csv(list(rows.values()))
    assert text.splitlines()[0].startswith("currency,opening,issued")
    assert "USD,0.00,115.00,4.00,0.00,25.00,0.00,0.00,6.00,88.00" in text


def test_liability_report_opening_balance_is_what_was_outstanding_before(make_account, staff):
    account = make_account("50.00")
    later = timezone.now() + timedelta(seconds=1)

    rows = liability_report(start=later, end=later + timedelta(days=1))

    assert rows[0].opening == Decimal("50.00") and rows[0].closing == Decimal("50.00")
    assert rows[0].issued == 0
    assert account.balance == Decimal("50.00")


def test_reconcile_records_ok_and_reports_drift(make_account):
    account = make_account("10.00")
    assert reconcile().ok

    # corrupt the stored balance behind the ledger's back
    Account.objects.filter(pk=account.pk).update(balance=Decimal("11.00"))
    check = reconcile()

    assert not check.ok
    assert check.drift[0]["account_id"] == account.pk
    assert check.drift[0]["stored_balance"] == "11.0000"
    assert check.drift[0]["computed_balance"] == "10.0000"
    assert LedgerCheck.objects.count() == 2
