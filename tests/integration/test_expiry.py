"""Credit expiry inside real Saleor: configuration, the expiry task, the notice."""

from datetime import timedelta
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

import graphene  # noqa: E402
from django.utils import timezone  # noqa: E402

from saleor_store_credit.ledger import ledger_verify  # noqa: E402
from saleor_store_credit.models import Account, CreditLot, Entry  # noqa: E402
from saleor_store_credit.tasks import (  # noqa: E402
    expire_credit_task,
    notify_expiring_credit_task,
)

ADJUST = """
mutation ($id: ID!) { storeCreditAdjust(customerId: $id, amount: "20.00", currency: "USD",
  reason: "welcome gift") { errors { code } } }
"""
ME = "{ me { storeCredit { accounts { balance { amount } expiring { amount } nextExpiry } } } }"


@pytest.fixture
def store_credit_config():
    return {"default_credit_expiry_days": "30", "notify_credit_expiring": True}


@pytest.fixture
def staff(sc_client, staff_user, permission_manage_users, permission_manage_payments):
    staff_user.user_permissions.add(permission_manage_users, permission_manage_payments)
    return sc_client(user=staff_user)


def test_issued_credit_expires_after_the_configured_days(staff, sc_client, customer_user):
    staff.query(ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})

    lot = CreditLot.objects.get()
    assert lot.amount == Decimal("20.00")
    days = (lot.expires_at - timezone.now()).total_seconds() / 86400
    assert 29.9 < days <= 30
    account = sc_client(user=customer_user).query(ME)["data"]["me"]["storeCredit"]["accounts"][0]
    assert account["expiring"] == {"amount": 20}
    assert account["nextExpiry"] is not None


def test_expiry_task_writes_off_the_rest_through_celery(staff, customer_user):
    staff.query(ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})
    CreditLot.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    assert expire_credit_task.delay().get() == 1

    entry = Entry.objects.get(kind="expiry")
    assert entry.amount == Decimal("20.00")
    account = Account.objects.get(user=customer_user)
    assert (account.balance, account.expiring) == (Decimal("0"), Decimal("0"))
    assert ledger_verify().ok


def test_customers_are_told_once_about_credit_expiring_within_a_week(
    staff, customer_user, django_capture_on_commit_callbacks
):
    """Received over SMTP in tests/integration/test_emails.py; here (no SMTP server
    configured) the e-mail is logged as skipped."""
    from saleor_store_credit.models import EmailDelivery

    staff.query(ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})

    with django_capture_on_commit_callbacks(execute=True):
        assert notify_expiring_credit_task.delay().get() == 0  # 30 days away: not yet
        CreditLot.objects.update(expires_at=timezone.now() + timedelta(days=3))
        assert notify_expiring_credit_task.delay().get() == 1
        assert notify_expiring_credit_task.delay().get() == 0  # once per lot

    [row] = EmailDelivery.objects.all()
    assert (row.event, row.recipient, row.status) == (
        "credit_expiring", customer_user.email, "skipped")
    assert row.context["amount"] == "20.00"


def test_converted_gift_card_credit_expires_too(sc_client, customer_user, gift_card):
    sc_client(user=customer_user).query(
        'mutation ($code: String!) { giftCardRedeemToStoreCredit(code: $code) { errors { code } } }',
        {"code": gift_card.code},
    )
    assert CreditLot.objects.get().amount == Decimal("10.00")
