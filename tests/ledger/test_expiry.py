"""Credit that expires: soonest-expiring credit is spent first; what is left at
expiry is written off by an `expiry` entry."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from saleor_store_credit.ledger import (
    capture_hold,
    credit,
    debit,
    expire_credit,
    ledger_verify,
    place_hold,
)
from saleor_store_credit.ledger.services import debit_whole_balances
from saleor_store_credit.models import Account, CreditLot, Entry

pytestmark = pytest.mark.django_db


def lots(account):
    return list(
        CreditLot.objects.filter(account=account).order_by("expires_at")
        .values_list("remaining", flat=True)
    )


def test_spending_takes_the_soonest_expiring_credit_first(make_account, staff):
    account = make_account("10.00")  # never expires
    now = timezone.now()
    credit(account=account, amount="5", kind="gift_card", actor=staff,
           expires_at=now + timedelta(days=2))
    credit(account=account, amount="3", kind="gift_card", actor=staff,
           expires_at=now + timedelta(days=1))

    debit(account=account, amount="4", kind="payment", actor=staff)

    account.refresh_from_db()
    assert lots(account) == [Decimal("0"), Decimal("4.00")]
    assert (account.balance, account.expiring) == (Decimal("14.00"), Decimal("4.00"))
    # spending beyond all lots leaves them at zero and the rest comes from credit
    # that never expires
    debit(account=account, amount="6", kind="payment", actor=staff)
    account.refresh_from_db()
    assert lots(account) == [0, 0]
    assert (account.balance, account.expiring) == (Decimal("8.00"), Decimal("0"))
    assert ledger_verify().ok


def test_expired_remainder_is_written_off(make_account, staff):
    account = make_account("10.00")
    now = timezone.now()
    credit(account=account, amount="5", kind="adjustment", actor=staff,
           expires_at=now - timedelta(minutes=1))
    credit(account=account, amount="2", kind="adjustment", actor=staff,
           expires_at=now + timedelta(days=30))
    debit(account=account, amount="1", kind="payment", actor=staff)

    assert expire_credit(now=now) == 1
    assert expire_credit(now=now) == 0  # nothing left to expire

    account.refresh_from_db()
    expiry = Entry.objects.get(account=account, kind="expiry")
    assert expiry.amount == Decimal("4.00")
    assert (account.balance, account.expiring) == (Decimal("12.00"), Decimal("2.00"))
    assert ledger_verify().ok


def test_credit_reserved_by_a_checkout_is_not_written_off_until_released(make_account, staff):
    account = make_account()
    now = timezone.now()
    credit(account=account, amount="5", kind="adjustment", actor=staff,
           expires_at=now - timedelta(minutes=1))
    hold = place_hold(account=account, amount="4", actor=staff)

    expire_credit(now=now)
    account.refresh_from_db()
    assert (account.balance, account.held) == (Decimal("4.00"), Decimal("4.00"))

    capture_hold(hold=hold, amount="3", actor=staff)  # spends expiring credit first
    expire_credit(now=now)
    account.refresh_from_db()
    assert (account.balance, account.expiring) == (Decimal("0"), Decimal("0"))
    assert ledger_verify().ok


def test_paying_out_a_whole_balance_closes_its_lots(make_account, staff):
    from saleor_store_credit.ledger import Actor

    account = make_account("1.00")
    credit(account=account, amount="5", kind="adjustment", actor=staff,
           expires_at=timezone.now() + timedelta(days=1))

    debit_whole_balances(account_ids=[account.pk], minimum=Decimal("1"), kind="payout",
                         actor=Actor.system(), reason="run")

    account.refresh_from_db()
    assert (account.balance, account.expiring) == (0, 0)
    assert lots(account) == [0]
    assert ledger_verify().ok


def test_expiring_can_never_exceed_the_balance(make_account):
    from django.db import IntegrityError, transaction

    account = make_account("5.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(expiring=Decimal("5.01"))


def test_paying_out_whole_balances_skips_reserved_and_small_ones_and_keeps_the_chain(
    make_account, staff,
):
    from saleor_store_credit.ledger import Actor, place_hold

    from .chain import broken_links

    # given a payable account, one with a reservation, one under the minimum
    payable, reserved, small = make_account("7.00"), make_account("9.00"), make_account("0.50")
    place_hold(account=reserved, amount="1.00", actor=staff)

    # when
    entry_ids = debit_whole_balances(
        account_ids=[small.pk, reserved.pk, payable.pk], minimum=Decimal("1"),
        kind="payout", actor=Actor.system(), reason="run")

    # then only the payable one was paid, with a debit of its whole balance
    (entry,) = Entry.objects.filter(pk__in=entry_ids)
    assert (entry.account_id, entry.amount, entry.balance_after, entry.kind) == (
        payable.pk, Decimal("7.00"), Decimal("0"), "payout")
    balances = {a.pk: a.balance for a in Account.objects.filter(
        pk__in=[payable.pk, reserved.pk, small.pk])}
    assert balances == {payable.pk: 0, reserved.pk: Decimal("9.00"), small.pk: Decimal("0.50")}
    assert broken_links() == []
    assert ledger_verify().ok
