"""Money boundaries inside real Saleor (issue 14: expiry under holds, idempotency key
namespaces, amount parsing, advisory lock spaces)."""

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

import graphene  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from prices import Money  # noqa: E402

from saleor.giftcard.models import GiftCard  # noqa: E402

from saleor_store_credit.ledger import Actor, credit, ledger_verify  # noqa: E402
from saleor_store_credit.models import (  # noqa: E402
    Account,
    CreditLot,
    Entry,
    Hold,
    HoldStatus,
    IdempotencyRecord,
    Payout,
    ReimbursementRun,
)
from saleor_store_credit.tasks import expire_credit_task  # noqa: E402

from .fixtures import STORE_CREDIT_API  # noqa: E402
from .test_checkout import (  # noqa: E402
    APPLY,
    COMPLETE,
    REMOVE,
    checkout_total,
    fund,
    gid,
    grant,
)

ADJUST = """
mutation ($id: ID!, $amount: Decimal!, $key: String) {
  storeCreditAdjust(customerId: $id, amount: $amount, currency: "USD",
                    reason: "goodwill", idempotencyKey: $key) {
    entry { id amount { amount } } errors { field code message } } }
"""
REDEEM = """
mutation ($code: String!, $key: String) {
  giftCardRedeemToStoreCredit(code: $code, idempotencyKey: $key) {
    entry { id } errors { code } } }
"""


def card(code, amount="5.00"):
    return GiftCard.objects.create(
        code=code, initial_balance=Money(Decimal(amount), "USD"),
        current_balance=Money(Decimal(amount), "USD"), is_active=True,
    )


@pytest.fixture
def staff(sc_client, staff_user, permission_manage_users, permission_manage_payments):
    grant(staff_user, permission_manage_users, permission_manage_payments)
    return sc_client(user=staff_user)


# --- 5: expiry while a hold is open ---------------------------------------------------


def _expiring_and_lasting_credit(customer_user):
    account = fund(customer_user, "40.00")  # never expires
    credit(account=account, amount="40.00", kind="adjustment", actor=Actor.system(),
           expires_at=timezone.now() + timedelta(days=5))
    return account


def test_expiry_during_an_open_hold_writes_off_only_unreserved_credit(
    sc_client, customer_user, shopper_checkout, user_api_client
):
    # given 40 expiring + 40 lasting, 40 reserved by the checkout
    account = _expiring_and_lasting_credit(customer_user)
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    total = checkout_total(shopper_checkout)
    assert 0 < total <= Decimal("40.00")
    shopper.query(APPLY, {"id": checkout_gid, "amount": str(total)})

    # when the expiring lot's date passes while the hold is open, then the order is placed
    CreditLot.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    expire_credit_task.delay().get()
    completed = user_api_client.post_graphql(COMPLETE, {"id": checkout_gid}).json()
    assert completed["data"]["checkoutComplete"]["errors"] == []
    expire_credit_task.delay().get()

    # then the reserved expiring credit paid the order and only its rest expired
    account.refresh_from_db()
    assert account.balance == Decimal("40.00")
    expired = sum(e.amount for e in Entry.objects.filter(kind="expiry"))
    assert expired == Decimal("40.00") - total
    assert account.expiring == 0
    assert ledger_verify().ok


def test_expired_credit_reserved_by_a_removed_hold_is_written_off_by_the_next_run(
    sc_client, customer_user, shopper_checkout
):
    account = _expiring_and_lasting_credit(customer_user)
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid, "amount": "10.00"})
    CreditLot.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    expire_credit_task.delay().get()
    account.refresh_from_db()
    assert account.balance == Decimal("50.00")  # 30 written off, 10 still reserved
    shopper.query(REMOVE, {"id": checkout_gid})
    expire_credit_task.delay().get()

    account.refresh_from_db()
    assert (account.balance, account.held, account.expiring) == (
        Decimal("40.00"), Decimal("0"), Decimal("0"))
    assert ledger_verify().ok


# --- 7: idempotency keys ----------------------------------------------------------------


@pytest.fixture
def store_credit_config():
    return {"default_credit_expiry_days": "30"}


def test_adjust_replay_with_a_default_expiry_returns_the_first_result(staff, customer_user):
    variables = {"id": gid("User", customer_user.pk), "amount": "5.00", "key": "adj-1"}

    first = staff.query(ADJUST, variables)["data"]["storeCreditAdjust"]
    replay = staff.query(ADJUST, variables)["data"]["storeCreditAdjust"]

    assert first["errors"] == [] and replay["errors"] == []
    assert replay["entry"]["id"] == first["entry"]["id"]
    assert Entry.objects.count() == 1 and CreditLot.objects.count() == 1


def test_client_keys_are_scoped_per_caller_and_operation(
    sc_client, staff, staff_users, permission_manage_users, permission_manage_payments,
    customer_user,
):
    other_staff = staff_users[1]
    grant(other_staff, permission_manage_users, permission_manage_payments)
    variables = {"id": gid("User", customer_user.pk), "amount": "5.00", "key": "shared"}

    mine = staff.query(ADJUST, variables)["data"]["storeCreditAdjust"]
    theirs = sc_client(user=other_staff).query(ADJUST, variables)["data"]["storeCreditAdjust"]
    card("SHAREDKEY0001")
    redeemed = sc_client(user=customer_user).query(
        REDEEM, {"code": "SHAREDKEY0001", "key": "shared"})["data"]["giftCardRedeemToStoreCredit"]

    assert mine["errors"] == theirs["errors"] == redeemed["errors"] == []
    assert len({mine["entry"]["id"], theirs["entry"]["id"], redeemed["entry"]["id"]}) == 3
    assert Account.objects.get(user=customer_user).balance == Decimal("15.00")
    assert not IdempotencyRecord.objects.filter(key="shared").exists()


def test_a_customer_cannot_pre_claim_the_key_of_a_payout_reversal(
    sc_client, staff, customer_user
):
    from saleor_store_credit.reimbursement import RunSpec, process_run, start_run

    # given a pending payout of the customer's balance
    fund(customer_user, "20.00")
    run = start_run(spec=RunSpec.build(currency="USD", minimum="1.00"),
                    actor=Actor.system())
    process_run(run.pk)
    payout = Payout.objects.get()
    # when the customer claims every key the reversal could use, old and new formats
    shopper = sc_client(user=customer_user)
    for index, key in enumerate([f"store-credit:payout-reversal:{payout.pk}",
                                 f"internal:payout-reversal:{payout.pk}"]):
        card(f"PRECLAIM{index:05d}")
        assert shopper.query(REDEEM, {"code": f"PRECLAIM{index:05d}", "key": key})[
            "data"]["giftCardRedeemToStoreCredit"]["errors"] == []
    failed = staff.query(
        'mutation ($id: ID!) { payoutMarkFailed(id: $id, note: "IBAN closed") '
        "{ payout { status } errors { code message } } }",
        {"id": graphene.Node.to_global_id("Payout", payout.pk)},
    )["data"]["payoutMarkFailed"]

    # then the reversal still happens
    assert failed["errors"] == [] and failed["payout"]["status"] == "FAILED"
    assert Account.objects.get(user=customer_user).balance == Decimal("30.00")
    assert ledger_verify().ok


def test_a_customer_cannot_pre_claim_the_key_of_a_staff_refund(
    sc_client, customer_user, shopper_checkout, user_api_client, staff_api_client,
    permission_manage_payments,
):
    from saleor.payment.models import TransactionEvent, TransactionItem

    from saleor_store_credit import checkout as payments

    from .test_checkout import REQUEST_ACTION

    fund(customer_user, "100.00")
    shopper = sc_client(user=customer_user)
    checkout_gid = gid("Checkout", shopper_checkout.pk)
    shopper.query(APPLY, {"id": checkout_gid})
    user_api_client.post_graphql(COMPLETE, {"id": checkout_gid})
    item = TransactionItem.objects.get(app_identifier=payments.GATEWAY_ID)
    # the refund request event is the next event row: claim the keys it could get
    next_pk = TransactionEvent.objects.order_by("-pk").values_list("pk", flat=True)[0]
    for offset in range(1, 4):
        for prefix in ("store-credit:refund:", "internal:refund:"):
            code = f"R{prefix[:3]}{offset:04d}".upper().replace(":", "")
            card(code)
            shopper.query(REDEEM, {"code": code, "key": f"{prefix}{next_pk + offset}"})

    grant(staff_api_client.user, permission_manage_payments)
    refunded = staff_api_client.post_graphql(REQUEST_ACTION, {
        "id": gid("TransactionItem", item.token), "type": "REFUND", "amount": "2.00"})

    payload = refunded.json()
    assert "errors" not in payload, payload
    assert payload["data"]["transactionRequestAction"]["errors"] == []
    assert Entry.objects.filter(kind="refund", amount=Decimal("2.00")).count() == 1
    assert ledger_verify().ok


# --- 8: amounts --------------------------------------------------------------------------

BAD_TEXT = ["1e400", "1e30", "\uff11\uff10", "\u0661\u0660", "1_000", "NaN", "Infinity",
            " ", "0x1A", "1.2.3"]
BAD_JSON_NUMBERS = ["1e400", "1e30", "-1e400", "1e-400"]


def _post_raw(client, query, variables_json: str):
    """POST a body as written (JSON numbers Python's json module would not write)."""
    from django.test import Client

    body = '{"query": %s, "variables": %s}' % (json.dumps(query), variables_json)
    return Client.post(client, STORE_CREDIT_API, data=body, content_type="application/json")


@pytest.mark.parametrize("amount", BAD_TEXT)
def test_bad_text_amounts_are_invalid_amount_and_write_nothing(staff, customer_user, amount):
    response = staff.post_graphql(ADJUST, {"id": gid("User", customer_user.pk),
                                           "amount": amount})

    assert response.status_code == 200
    payload = response.json()["data"]["storeCreditAdjust"]
    assert payload["errors"][0]["code"] == "INVALID_AMOUNT"
    assert not Entry.objects.exists()


@pytest.mark.parametrize("number", BAD_JSON_NUMBERS)
def test_bad_json_number_amounts_are_invalid_amount_and_write_nothing(
    staff, customer_user, number
):
    response = _post_raw(
        staff, ADJUST,
        '{"id": "%s", "amount": %s}' % (gid("User", customer_user.pk), number),
    )

    assert response.status_code == 200
    payload = response.json()["data"]["storeCreditAdjust"]
    assert payload["errors"][0]["code"] == "INVALID_AMOUNT"
    assert not Entry.objects.exists()


@pytest.mark.parametrize("amount", ["1e400", "\uff15", "1_0"])
def test_bad_amounts_are_refused_by_every_money_operation(
    sc_client, staff_user, customer_user, shopper_checkout, order_with_lines,
    permission_manage_users, permission_manage_orders, permission_manage_payments, amount,
):
    grant(staff_user, permission_manage_users, permission_manage_orders,
          permission_manage_payments)
    staff = sc_client(user=staff_user)
    fund(customer_user, "10.00")
    order_with_lines.user = customer_user
    order_with_lines.save(update_fields=["user"])
    calls = [
        (sc_client(user=customer_user),
         "mutation ($a: Decimal) { checkoutStoreCreditApply(checkoutId: \"%s\", amount: $a)"
         " { errors { code } } }" % gid("Checkout", shopper_checkout.pk),
         "checkoutStoreCreditApply"),
        (staff,
         "mutation ($a: Decimal) { orderCreditMemoCreate(orderId: \"%s\", input: "
         "{amount: $a, reason: \"x\"}) { errors { code } } }" % gid("Order", order_with_lines.pk),
         "orderCreditMemoCreate"),
        (staff,
         "mutation ($a: Decimal) { creditLimitSet(input: {customerId: \"%s\", currency: "
         "\"USD\", amount: $a}) { errors { code } } }" % gid("User", customer_user.pk),
         "creditLimitSet"),
        (staff,
         "mutation ($a: Decimal) { reimbursementRunStart(input: {currency: \"USD\", "
         "minimumAmount: $a}) { errors { code } } }",
         "reimbursementRunStart"),
    ]
    entries, holds = Entry.objects.count(), Hold.objects.count()
    for client, query, name in calls:
        response = client.post_graphql(query, {"a": amount})
        assert response.status_code == 200, name
        errors = response.json()["data"][name]["errors"]
        assert [e["code"] for e in errors] == ["INVALID_AMOUNT"], (name, errors)
    assert (Entry.objects.count(), Hold.objects.count()) == (entries, holds)
    assert not ReimbursementRun.objects.exists()
    assert not Hold.objects.filter(status=HoldStatus.ACTIVE).exists()


# --- 9: advisory lock spaces ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_credit_check_of_customer_n_does_not_block_reimbursement_run_n(
    store_credit_plugin, customer_user
):
    from django.db import connections, transaction

    from saleor_store_credit.credit import exposure
    from saleor_store_credit.reimbursement import process_run

    run = ReimbursementRun.objects.create(
        pk=customer_user.pk, currency="USD", minimum_amount=Decimal("1.00"),
        actor_type="system",
    )
    outcome = []

    def other_process():
        connections["replica"] = connections["default"]
        try:
            outcome.append(process_run(run.pk))
        finally:
            connection.close()

    with transaction.atomic():
        exposure.lock_scope(customer_user.pk, None)  # a credit check in progress
        worker = threading.Thread(target=other_process)
        worker.start()
        worker.join(30)

    assert outcome == ["completed"]
