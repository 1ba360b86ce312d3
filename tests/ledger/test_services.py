from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from django.utils import timezone

from saleor_store_credit.errors import (
    BalanceLimitExceeded,
    CurrencyMismatch,
    HoldAmountExceeded,
    HoldNotActive,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    StoreCreditError,
)
from saleor_store_credit.ledger import (
    Refs,
    adjust,
    capture_hold,
    credit,
    debit,
    expire_holds,
    get_or_create_account,
    ledger_verify,
    place_hold,
    release_hold,
)
from saleor_store_credit.models import (
    Account,
    Entry,
    EntryDirection,
    EntryKind,
    Hold,
    HoldStatus,
)

pytestmark = pytest.mark.django_db


def _fresh(account):
    account.refresh_from_db()
    return account


def test_get_or_create_account_returns_one_account_per_user_and_currency(make_user):
    user = make_user()
    first = get_or_create_account(user=user, currency="usd")
    again = get_or_create_account(user=user, currency="USD")
    euro = get_or_create_account(user=user, currency="EUR")
    assert first.pk == again.pk
    assert euro.pk != first.pk
    assert first.currency == "USD"


def test_credit_adds_to_balance_and_records_an_entry(make_account, staff):
    account = make_account()
    order_id = uuid4()

    entry = credit(
        account=account,
        amount="12.30",
        kind=EntryKind.CREDIT_MEMO,
        actor=staff,
        reason="damaged parcel",
        refs=Refs(order_id=order_id),
    )

    account = _fresh(account)
    assert account.balance == Decimal("12.30")
    assert entry.direction == EntryDirection.CREDIT
    assert entry.balance_after == Decimal("12.30")
    assert entry.order_id == order_id
    assert entry.actor_type == "staff" and entry.actor_label == "staff@example.com"
    assert ledger_verify().ok


def test_debit_beyond_available_is_refused_and_changes_nothing(make_account, staff):
    account = make_account("5.00")

    with pytest.raises(InsufficientFunds):
        debit(account=account, amount="5.01", kind=EntryKind.PAYMENT, actor=staff)

    assert _fresh(account).balance == Decimal("5.00")
    assert Entry.objects.filter(account=account).count() == 1


def test_debit_respects_holds(make_account, staff):
    account = make_account("10.00")
    place_hold(account=account, amount="8.00", actor=staff)

    with pytest.raises(InsufficientFunds):
        debit(account=account, amount="2.01", kind=EntryKind.PAYMENT, actor=staff)
    debit(account=account, amount="2.00", kind=EntryKind.PAYMENT, actor=staff)

    account = _fresh(account)
    assert (account.balance, account.held, account.available) == (
        Decimal("8.00"),
        Decimal("8.00"),
        Decimal("0.00"),
    )
    assert ledger_verify().ok


def test_a_hold_without_a_savepoint_refused_leaves_the_callers_transaction_usable(
    make_account, staff
):
    # given a caller's transaction (as apply_to_checkout's) and 5.00 available
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    account = make_account("5.00")
    with transaction.atomic(savepoint=False):
        # when a reservation larger than the balance is asked for without a savepoint
        with pytest.raises(InsufficientFunds):
            place_hold(account=account, amount="5.01", actor=staff, savepoint=False)
        # then the transaction goes on: a fitting one is placed in it
        hold = place_hold(account=account, amount="5.00", actor=staff, savepoint=False)
    assert _fresh(account).held == Decimal("5.00")
    assert Hold.objects.get().pk == hold.pk
    assert ledger_verify().ok
    # and outside a transaction it refuses to run at all (it would need one)
    from django.db import connection

    if not connection.in_atomic_block:
        with pytest.raises(TransactionManagementError):
            place_hold(account=account, amount="1.00", actor=staff, savepoint=False)


def test_currency_mismatch_is_refused(make_account, staff):
    account = make_account("10.00", currency="EUR")
    with pytest.raises(CurrencyMismatch):
        credit(account=account, amount="1", currency="USD", kind="adjustment", actor=staff)
    with pytest.raises(CurrencyMismatch):
        place_hold(account=account, amount="1", currency="USD", actor=staff)


def test_amounts_are_quantized_to_the_account_currency(make_account, staff):
    jpy = make_account(currency="JPY")
    with pytest.raises(InvalidAmount):
        credit(account=jpy, amount="100.5", kind="adjustment", actor=staff)
    entry = credit(account=jpy, amount="100", kind="adjustment", actor=staff)
    assert entry.amount == Decimal("100")


def test_max_balance_policy_refuses_credit_over_the_limit(make_account, staff):
    account = make_account("90.00")
    with pytest.raises(BalanceLimitExceeded):
        credit(
            account=account, amount="10.01", kind="adjustment", actor=staff,
            max_balance=Decimal("100"),
        )
    credit(
        account=account, amount="10.00", kind="adjustment", actor=staff,
        max_balance=Decimal("100"),
    )
    assert _fresh(account).balance == Decimal("100.00")


def test_adjust_adds_and_deducts_but_never_below_zero(make_account, staff):
    account = make_account()

    added = adjust(account=account, amount="20", reason="goodwill", actor=staff)
    deducted = adjust(account=account, amount="-7.50", reason="correction", actor=staff)
    with pytest.raises(InsufficientFunds):
        adjust(account=account, amount="-12.51", reason="too much", actor=staff)

    assert added.direction == "credit" and deducted.direction == "debit"
    assert deducted.amount == Decimal("7.50")
    assert _fresh(account).balance == Decimal("12.50")


def test_adjust_requires_a_reason(make_account, staff):
    account = make_account()
    with pytest.raises(StoreCreditError) as excinfo:
        adjust(account=account, amount="1", reason="  ", actor=staff)
    assert excinfo.value.field == "reason"
    assert not Entry.objects.filter(account=account).exists()


def test_capture_full_hold_debits_and_resolves_it(make_account, staff):
    account = make_account("50.00")
    hold = place_hold(account=account, amount="30.00", actor=staff, checkout_id=uuid4())

    entry = capture_hold(hold=hold, actor=staff, refs=Refs(order_id=uuid4()))

    hold.refresh_from_db()
    account = _fresh(account)
    assert hold.status == HoldStatus.CAPTURED
    assert hold.captured_amount == Decimal("30.00")
    assert entry.hold_id == hold.pk and entry.amount == Decimal("30.00")
    assert (account.balance, account.held) == (Decimal("20.00"), Decimal("0.00"))
    assert ledger_verify().ok


def test_partial_capture_releases_the_rest(make_account, staff):
    account = make_account("50.00")
    hold = place_hold(account=account, amount="30.00", actor=staff)

    capture_hold(hold=hold, amount="12.25", actor=staff)

    account = _fresh(account)
    assert (account.balance, account.held, account.available) == (
        Decimal("37.75"),
        Decimal("0.00"),
        Decimal("37.75"),
    )
    assert ledger_verify().ok


def test_capture_more_than_held_is_refused(make_account, staff):
    account = make_account("50.00")
    hold = place_hold(account=account, amount="30.00", actor=staff)
    with pytest.raises(HoldAmountExceeded):
        capture_hold(hold=hold, amount="30.01", actor=staff)
    hold.refresh_from_db()
    assert hold.status == HoldStatus.ACTIVE


def test_a_hold_resolves_exactly_once(make_account, staff):
    account = make_account("50.00")
    hold = place_hold(account=account, amount="10.00", actor=staff)
    release_hold(hold=hold, actor=staff)

    with pytest.raises(HoldNotActive):
        capture_hold(hold=hold, actor=staff)
    with pytest.raises(HoldNotActive):
        release_hold(hold=hold, actor=staff)

    account = _fresh(account)
    assert (account.balance, account.held) == (Decimal("50.00"), Decimal("0.00"))


def test_two_active_holds_for_one_checkout_are_refused_by_the_database(
    make_account, staff
):
    from django.db import IntegrityError

    account = make_account("50.00")
    checkout_id = uuid4()
    place_hold(account=account, amount="10.00", actor=staff, checkout_id=checkout_id)
    with pytest.raises(IntegrityError):
        place_hold(account=account, amount="5.00", actor=staff, checkout_id=checkout_id)
    assert _fresh(account).held == Decimal("10.00")


def test_expire_holds_releases_only_holds_past_their_lifetime(make_account, staff):
    account = make_account("50.00")
    now = timezone.now()
    old = place_hold(
        account=account, amount="10", actor=staff, expires_at=now - timedelta(minutes=1)
    )
    live = place_hold(
        account=account, amount="5", actor=staff, expires_at=now + timedelta(hours=1)
    )

    assert expire_holds(now=now) == 1

    old.refresh_from_db()
    live.refresh_from_db()
    assert old.status == HoldStatus.EXPIRED
    assert live.status == HoldStatus.ACTIVE
    assert _fresh(account).held == Decimal("5.00")
    assert ledger_verify().ok


def test_idempotent_replay_returns_the_first_result(make_account, staff):
    account = make_account()

    first = credit(
        account=account, amount="5", kind="adjustment", actor=staff,
        idempotency_key="k-1",
    )
    again = credit(
        account=account, amount="5.00", kind="adjustment", actor=staff,
        idempotency_key="k-1",
    )

    assert first.pk == again.pk
    assert _fresh(account).balance == Decimal("5.00")


def test_idempotency_key_with_different_input_is_refused(make_account, staff):
    account = make_account()
    credit(account=account, amount="5", kind="adjustment", actor=staff,
           idempotency_key="k-2")

    with pytest.raises(IdempotencyKeyReused):
        credit(account=account, amount="6", kind="adjustment", actor=staff,
               idempotency_key="k-2")
    with pytest.raises(IdempotencyKeyReused):
        debit(account=account, amount="5", kind="payment", actor=staff,
              idempotency_key="k-2")
    assert _fresh(account).balance == Decimal("5.00")


def test_idempotent_hold_and_capture_replay(make_account, staff):
    account = make_account("20")
    hold = place_hold(account=account, amount="5", actor=staff, idempotency_key="h-1")
    assert place_hold(
        account=account, amount="5", actor=staff, idempotency_key="h-1"
    ).pk == hold.pk
    entry = capture_hold(hold=hold, actor=staff, idempotency_key="c-1")
    assert capture_hold(hold=hold, actor=staff, idempotency_key="c-1").pk == entry.pk
    account = _fresh(account)
    assert (account.balance, account.held) == (Decimal("15.00"), Decimal("0.00"))
    assert Hold.objects.filter(account=account).count() == 1


def test_failed_operation_does_not_consume_its_idempotency_key(make_account, staff):
    account = make_account("1")
    with pytest.raises(InsufficientFunds):
        debit(account=account, amount="2", kind="payment", actor=staff,
              idempotency_key="k-3")
    credit(account=account, amount="1", kind="adjustment", actor=staff)
    entry = debit(account=account, amount="2", kind="payment", actor=staff,
                  idempotency_key="k-3")
    assert entry.amount == Decimal("2.00")


def test_deleting_the_customer_keeps_the_account_and_its_history(make_account):
    account = make_account("3")
    user = account.user
    user.delete()
    account = Account.objects.get(pk=account.pk)
    assert account.user_id is None
    assert account.balance == Decimal("3.00")
    assert account.entries.count() == 1
