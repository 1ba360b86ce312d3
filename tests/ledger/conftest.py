import itertools
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from saleor_store_credit.ledger import Actor, credit, get_or_create_account
from saleor_store_credit.models import EntryKind

_emails = itertools.count(1)


@pytest.fixture
def make_user(db):
    def make(email=None):
        email = email or f"customer{next(_emails)}@example.com"
        return get_user_model().objects.create(username=email, email=email)

    return make


@pytest.fixture
def staff():
    return Actor("staff", "1", "staff@example.com")


@pytest.fixture
def make_account(make_user, staff):
    def make(balance="0", currency="USD", user=None):
        account = get_or_create_account(user=user or make_user(), currency=currency)
        if Decimal(balance) > 0:
            credit(account=account, amount=balance, kind=EntryKind.ADJUSTMENT, actor=staff)
            account.refresh_from_db()
        return account

    return make
