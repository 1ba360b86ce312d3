"""The database itself refuses to rewrite history, whatever Python does."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from saleor_store_credit.ledger import place_hold, release_hold
from saleor_store_credit.models import Account, Entry, Hold, IdempotencyRecord

pytestmark = pytest.mark.django_db


def _refused(fn):
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            fn()


def test_entries_are_append_only_against_queryset_update_and_delete(make_account):
    account = make_account("10")
    _refused(lambda: Entry.objects.filter(account=account).update(amount=Decimal("99")))
    _refused(lambda: Entry.objects.filter(account=account).delete())
    _refused(lambda: Entry.objects.filter(account=account).first().delete())

    entry = Entry.objects.get(account=account)
    assert entry.amount == Decimal("10.00")


def test_entries_are_append_only_against_raw_sql(make_account):
    make_account("10")

    def raw_update():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE saleor_store_credit_entry SET amount = 1")

    _refused(raw_update)


def test_accounts_and_holds_cannot_be_deleted(make_account, staff):
    account = make_account("10")
    place_hold(account=account, amount="1", actor=staff)
    _refused(lambda: Hold.objects.filter(account=account).delete())
    _refused(lambda: Account.objects.filter(pk=account.pk).delete())


def test_a_resolved_hold_cannot_be_reopened(make_account, staff):
    account = make_account("10")
    hold = place_hold(account=account, amount="4", actor=staff)
    release_hold(hold=hold, actor=staff)
    _refused(lambda: Hold.objects.filter(pk=hold.pk).update(status="active"))
    _refused(lambda: Hold.objects.filter(pk=hold.pk).update(status="captured"))


def test_an_active_hold_amount_cannot_be_changed(make_account, staff):
    account = make_account("10")
    hold = place_hold(account=account, amount="4", actor=staff)
    _refused(lambda: Hold.objects.filter(pk=hold.pk).update(amount=Decimal("1")))


def test_idempotency_records_are_append_only(make_account, staff):
    account = make_account("10")
    place_hold(account=account, amount="1", actor=staff, idempotency_key="x")
    _refused(lambda: IdempotencyRecord.objects.filter(key="x").update(key="y"))
    _refused(lambda: IdempotencyRecord.objects.filter(key="x").delete())


@pytest.mark.parametrize(
    ("field", "value"),
    [("balance", Decimal("-0.01")), ("held", Decimal("-1")), ("held", Decimal("10.01"))],
)
def test_account_balance_constraints(make_account, field, value):
    account = make_account("10")
    _refused(lambda: Account.objects.filter(pk=account.pk).update(**{field: value}))


def test_entry_amount_must_be_positive(make_account):
    account = make_account("10")
    _refused(
        lambda: Entry.objects.create(
            account=account, direction="credit", amount=Decimal("0"),
            balance_after=Decimal("10"), kind="adjustment", actor_type="system",
        )
    )
