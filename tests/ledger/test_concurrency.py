"""Real threads, each on its own PostgreSQL connection, racing for one account."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from saleor_store_credit.errors import InsufficientFunds
from saleor_store_credit.ledger import (
    Actor,
    credit,
    debit,
    ledger_verify,
    place_hold,
)
from saleor_store_credit.models import Entry, Hold

pytestmark = pytest.mark.django_db(transaction=True)


def _race(count, fn):
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def run(index):
        try:
            barrier.wait()
            outcomes[index] = ("ok", fn(index))
        except Exception as exc:  # collected and asserted by the caller
            outcomes[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread deadlocked"
    return outcomes


def test_fifty_threads_racing_debits_never_overdraw(make_account):
    # given 255.00 and 50 debits of 10.00: exactly 25 can be afforded
    account = make_account("255.00")
    actor = Actor.system("race")

    # when
    outcomes = _race(
        50,
        lambda i: debit(account=account.pk, amount="10.00", kind="payment", actor=actor),
    )

    # then
    succeeded = [o for o in outcomes if o[0] == "ok"]
    refused = [o for o in outcomes if o[0] == "error"]
    assert len(succeeded) == 25
    assert len(refused) == 25
    assert all(isinstance(exc, InsufficientFunds) for _, exc in refused)
    account.refresh_from_db()
    assert account.balance == Decimal("5.00")
    assert Entry.objects.filter(account=account, direction="debit").count() == 25
    assert ledger_verify().ok


def test_racing_holds_and_debits_never_overspend_the_available_balance(make_account):
    account = make_account("100.00")
    actor = Actor.system("race")

    def spend(i):
        if i % 2:
            return place_hold(account=account.pk, amount="7.00", actor=actor)
        return debit(account=account.pk, amount="7.00", kind="payment", actor=actor)

    outcomes = _race(40, spend)

    succeeded = sum(1 for o in outcomes if o[0] == "ok")
    assert succeeded == 14  # floor(100 / 7)
    account.refresh_from_db()
    assert account.available == Decimal("2.00")
    assert ledger_verify().ok


def test_concurrent_replays_of_one_idempotency_key_apply_once(make_account):
    account = make_account()
    actor = Actor.system("race")

    outcomes = _race(
        20,
        lambda i: credit(
            account=account.pk, amount="3.00", kind="adjustment", actor=actor,
            idempotency_key="same-key",
        ),
    )

    assert all(kind == "ok" for kind, _ in outcomes)
    assert len({entry.pk for _, entry in outcomes}) == 1
    account.refresh_from_db()
    assert account.balance == Decimal("3.00")
    assert ledger_verify().ok


def test_racing_captures_and_releases_of_one_hold_resolve_it_once(make_account):
    account = make_account("10.00")
    actor = Actor.system("race")
    hold = place_hold(account=account.pk, amount="6.00", actor=actor)

    from saleor_store_credit.ledger import capture_hold, release_hold

    outcomes = _race(
        20,
        lambda i: capture_hold(hold=hold.pk, actor=actor)
        if i % 2
        else release_hold(hold=hold.pk, actor=actor),
    )

    assert sum(1 for kind, _ in outcomes if kind == "ok") == 1
    hold = Hold.objects.get(pk=hold.pk)
    account.refresh_from_db()
    assert account.held == Decimal("0.00")
    expected = Decimal("4.00") if hold.status == "captured" else Decimal("10.00")
    assert account.balance == expected
    assert ledger_verify().ok
