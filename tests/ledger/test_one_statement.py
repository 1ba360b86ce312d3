"""A plain credit or debit is one SQL statement; outside a transaction, and with
nobody listening, it runs in autocommit, so the account row is locked only while that
statement runs. These tests attack that path: receivers, expiring credit, refusals,
and real threads on their own connections racing for one account."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from saleor_store_credit import signals
from saleor_store_credit.errors import BalanceLimitExceeded, InsufficientFunds
from saleor_store_credit.ledger import Actor, credit, debit, ledger_verify, place_hold
from saleor_store_credit.models import Account, CreditLot, Entry

from .chain import broken_links

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("one statement")


@pytest.fixture
def listener():
    """Connect a receiver through `signals.listen` for one test."""
    connected = []

    def connect(receiver, wants):
        uid = f"test-listener-{len(connected)}"
        signals.listen(receiver, dispatch_uid=uid, wants=wants)
        connected.append((receiver, uid))

    yield connect
    for receiver, uid in connected:
        signals.store_credit_event.disconnect(receiver, dispatch_uid=uid)
        signals._wants.pop(uid)


def test_a_plain_debit_outside_a_transaction_is_one_statement(make_account):
    # given
    account = make_account("10.00")

    # when
    with CaptureQueriesContext(connection) as queries:
        entry = debit(account=account, amount="2.50", kind="payment", actor=ACTOR)

    # then one statement did it all, and left no transaction open
    assert len(queries.captured_queries) == 1
    assert connection.get_autocommit() and not connection.in_atomic_block
    account.refresh_from_db()
    assert (account.balance, account.entry_count) == (Decimal("7.50"), 2)
    assert (entry.balance_after, entry.amount, entry.direction) == (
        Decimal("7.50"), Decimal("2.50"), "debit")
    assert Entry.objects.get(pk=entry.pk).balance_after == Decimal("7.50")
    assert ledger_verify().ok and broken_links() == []


def test_a_plain_credit_outside_a_transaction_is_one_statement(make_account):
    account = make_account("1.00")

    with CaptureQueriesContext(connection) as queries:
        entry = credit(account=account, amount="4.00", kind="adjustment", actor=ACTOR)

    assert len(queries.captured_queries) == 1
    assert entry.balance_after == Decimal("5.00")
    assert ledger_verify().ok and broken_links() == []


def test_a_debit_beyond_the_available_balance_is_refused_and_changes_nothing(make_account):
    # given 10.00 of which 6.00 reserved
    account = make_account("10.00")
    place_hold(account=account, amount="6.00", actor=ACTOR)

    # when / then
    with pytest.raises(InsufficientFunds):
        debit(account=account, amount="4.01", kind="payment", actor=ACTOR)
    account.refresh_from_db()
    assert (account.balance, account.held, account.entry_count) == (
        Decimal("10.00"), Decimal("6.00"), 1)
    assert ledger_verify().ok


def test_a_credit_over_the_maximum_balance_is_refused_and_changes_nothing(make_account):
    account = make_account("10.00")

    with pytest.raises(BalanceLimitExceeded):
        credit(account=account, amount="5.01", kind="adjustment", actor=ACTOR,
               max_balance=Decimal("15.00"))

    account.refresh_from_db()
    assert account.balance == Decimal("10.00")
    assert ledger_verify().ok


def test_a_debit_of_expiring_credit_outside_a_transaction_spends_the_soonest_lot_first(
    make_account,
):
    # given 5.00 that never expires, 3.00 expiring in 2 days and 4.00 tomorrow
    account = make_account("5.00")
    now = timezone.now()
    credit(account=account, amount="3.00", kind="adjustment", actor=ACTOR,
           expires_at=now + timedelta(days=2))
    credit(account=account, amount="4.00", kind="adjustment", actor=ACTOR,
           expires_at=now + timedelta(days=1))

    # when
    debit(account=account, amount="5.00", kind="payment", actor=ACTOR)

    # then tomorrow's lot went first, then 1.00 of the later one
    lots = list(CreditLot.objects.filter(account=account).order_by("expires_at")
                .values_list("remaining", flat=True))
    assert lots == [Decimal("0"), Decimal("2.00")]
    account.refresh_from_db()
    assert (account.balance, account.expiring) == (Decimal("7.00"), Decimal("2.00"))
    assert ledger_verify().ok and broken_links() == []


def test_a_debit_someone_listens_to_commits_or_rolls_back_with_what_they_write(
    make_account, listener,
):
    # given a receiver that wants balance changes and fails while handling one
    account = make_account("10.00")
    seen = []

    def failing(sender, event, data, **kwargs):
        seen.append((event, connection.in_atomic_block))
        raise RuntimeError("outbox down")

    listener(failing, wants=lambda event: event == "balance_changed")

    # when
    with pytest.raises(RuntimeError):
        debit(account=account, amount="3.00", kind="payment", actor=ACTOR)

    # then it ran inside the debit's transaction, and the debit rolled back with it
    assert seen == [("balance_changed", True)]
    account.refresh_from_db()
    assert (account.balance, account.entry_count) == (Decimal("10.00"), 1)
    assert ledger_verify().ok


def test_a_receiver_connected_without_saying_what_it_wants_hears_every_debit_in_its_transaction(
    make_account,
):
    account = make_account("10.00")
    seen = []

    def receiver(sender, event, data, **kwargs):
        seen.append((event, connection.in_atomic_block, (data() if callable(data) else data)["delta"]))

    signals.store_credit_event.connect(receiver, dispatch_uid="test-unknown-receiver")
    try:
        debit(account=account, amount="3.00", kind="payment", actor=ACTOR)
    finally:
        signals.store_credit_event.disconnect(receiver, dispatch_uid="test-unknown-receiver")

    assert seen == [("balance_changed", True, "-3.00")]


def test_a_receiver_that_wants_nothing_now_does_not_cost_a_transaction(make_account, listener):
    account = make_account("10.00")
    seen = []
    listener(lambda sender, event, data, **kwargs: seen.append(event), wants=lambda e: False)

    with CaptureQueriesContext(connection) as queries:
        debit(account=account, amount="1.00", kind="payment", actor=ACTOR)

    assert len(queries.captured_queries) == 1 and seen == []


def _threads(count, work):
    barrier = threading.Barrier(count)
    errors = []

    def run(index):
        try:
            barrier.wait()
            work(index)
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a thread deadlocked"
    return errors


@pytest.mark.parametrize(("clients", "per_client"), [(16, 25), (64, 6)])
def test_racing_one_statement_debits_and_credits_lose_no_update(
    make_account, clients, per_client,
):
    # given one account and many clients, each on its own connection
    account = make_account("1000.00")

    def work(index):
        for step in range(per_client):
            if (index + step) % 4 == 0:
                credit(account=account.pk, amount="0.03", kind="adjustment", actor=ACTOR)
            else:
                debit(account=account.pk, amount="0.01", kind="payment", actor=ACTOR)

    # when
    errors = _threads(clients, work)

    # then every write counted once, and each entry follows from the one before it
    assert errors == []
    credits = sum(1 for i in range(clients) for s in range(per_client) if (i + s) % 4 == 0)
    debits = clients * per_client - credits
    expected = Decimal("1000.00") + Decimal("0.03") * credits - Decimal("0.01") * debits
    account.refresh_from_db()
    assert account.balance == expected
    assert account.entry_count == 1 + clients * per_client
    assert broken_links() == []
    assert ledger_verify().ok


def test_racing_one_statement_debits_never_overdraw(make_account):
    # given 1.00 and 64 clients each wanting 0.05 twice: exactly 20 can be afforded
    account = make_account("1.00")
    refused = []

    def work(index):
        for _ in range(2):
            try:
                debit(account=account.pk, amount="0.05", kind="payment", actor=ACTOR)
            except InsufficientFunds:
                refused.append(index)

    errors = _threads(64, work)

    assert errors == []
    assert len(refused) == 128 - 20
    account.refresh_from_db()
    assert account.balance == Decimal("0")
    assert Entry.objects.filter(account=account, direction="debit").count() == 20
    assert Account.objects.get(pk=account.pk).entry_count == 21
    assert broken_links() == []
    assert ledger_verify().ok
