"""Personal data (issue 15, item 8) inside real Saleor: what the plugin keeps about a
customer after Saleor deletes them, orphaned balances and their write-off, and payout
bank details kept out of Saleor's private metadata."""

import csv
import importlib
import io
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

import graphene  # noqa: E402
from django.apps import apps  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.db.models.functions import Cast  # noqa: E402
from django.db.utils import IntegrityError  # noqa: E402
from django.utils import timezone  # noqa: E402

from saleor.account.models import Address, User  # noqa: E402
from saleor.core.tokens import account_delete_token_generator  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402

from saleor_store_credit.conf import StoreCreditSettings  # noqa: E402
from saleor_store_credit.credit import audit  # noqa: E402
from saleor_store_credit.credit.limits import update_profile  # noqa: E402
from saleor_store_credit.credit.models import AuditKind, OrderHold  # noqa: E402
from saleor_store_credit.ledger import Actor, credit, debit, ledger_verify  # noqa: E402
from saleor_store_credit.ledger.services import entry_payload  # noqa: E402
from saleor_store_credit.models import (  # noqa: E402
    Account,
    Entry,
    GiftCardRedeemAttempt,
    Payout,
)
from saleor_store_credit.reimbursement import (  # noqa: E402
    RunSpec,
    process_run,
    resolve_payout,
    start_run,
)
from saleor_store_credit.tasks import reconcile_ledger_task  # noqa: E402
from saleor_store_credit.webhooks.outbox import enqueue  # noqa: E402

from .test_checkout import grant  # noqa: E402

EMAIL = "ingrid.quarterly@example.org"
FIRST, LAST = "Ingridelle", "Quarterly-Zwaan"
STREET = "Keizersgracht 777"
CLIENT_ADDRESS = "203.0.113.9"
IBAN = "NL91ABNA0417164300"
METADATA_KEY = "store_credit.payout_account"

CUSTOMER_DELETE = """
mutation ($id: ID!) { customerDelete(id: $id) { errors { field code message } } }
"""
CUSTOMER_BULK_DELETE = """
mutation ($ids: [ID!]!) { customerBulkDelete(ids: $ids) { count errors { field code } } }
"""
ACCOUNT_DELETE = """
mutation ($token: String!) { accountDelete(token: $token) { errors { field code message } } }
"""
REPORT = """
query ($start: DateTime!, $end: DateTime!) {
  storeCreditLiabilityReport(start: $start, end: $end) {
    rows { currency closing writtenOff orphaned }
    orphaned { accountId currency label balance { amount currency } orphanedAt }
    csv } }
"""
CHECKS = "{ storeCreditLedgerChecks(first: 1) { ok orphaned } }"
WRITE_OFF = """
mutation ($id: ID!, $reason: String!, $key: String) {
  storeCreditWriteOffOrphaned(accountId: $id, reason: $reason, idempotencyKey: $key) {
    entry { id kind reason amount { amount currency } }
    account { balance { amount } }
    errors { field code message } } }
"""
DETAILS_SET = """
mutation ($id: ID!, $account: String!, $holder: String) {
  storeCreditPayoutDetailsSet(customerId: $id, accountNumber: $account, accountHolder: $holder) {
    payoutDetails { accountMasked accountHolder }
    errors { field code message } } }
"""
CUSTOMER_DETAILS = """
query ($id: ID!) { customerStoreCredit(customerId: $id) {
  payoutDetails { accountMasked accountHolder } } }
"""
CUSTOMER_DETAILS_FULL = """
query ($id: ID!) { customerStoreCredit(customerId: $id) {
  payoutDetails { accountMasked account } } }
"""
SALEOR_USER_METADATA = """
query ($id: ID!) { user(id: $id) { privateMetadata { key value } } }
"""
RUN = """
query ($id: ID!, $full: Boolean) { reimbursementRun(id: $id) {
  payouts { payoutAccount detailsMissing } csv(fullPayoutAccounts: $full) } }
"""
RUN_FULL = """
query ($id: ID!) { reimbursementRun(id: $id) { payouts { payoutAccountFull } } }
"""
PREVIEW = """
query ($input: ReimbursementRunInput!) { reimbursementRunPreview(input: $input) {
  accounts { email detailsMissing } } }
"""


def gid(kind, pk):
    return graphene.Node.to_global_id(kind, pk)


# --- helpers ----------------------------------------------------------------------------


def text_columns(model):
    for field in model._meta.concrete_fields:
        if isinstance(field, (models.CharField, models.TextField, models.JSONField,
                              models.GenericIPAddressField)):
            yield field.name


def plugin_rows_containing(needle: str) -> list:
    """Every (table, column, pk) of the plugin whose text contains `needle`."""
    hits = []
    for model in apps.get_app_config("saleor_store_credit").get_models():
        for name in text_columns(model):
            rows = model.objects.annotate(
                _text=Cast(name, models.TextField())
            ).filter(_text__icontains=needle)
            hits += [(model._meta.db_table, name, pk) for pk in rows.values_list("pk", flat=True)]
    return hits


def personal_data_left() -> dict:
    needles = [EMAIL, FIRST, LAST, STREET, CLIENT_ADDRESS, IBAN, IBAN[-4:]]
    return {needle: hits for needle in needles if (hits := plugin_rows_containing(needle))}


@pytest.fixture
def doomed(db):
    """A customer with a distinctive e-mail, names and billing address."""
    address = Address.objects.create(
        first_name=FIRST, last_name=LAST, street_address_1=STREET, city="Amsterdam",
        postal_code="1015 AA", country="NL",
    )
    user = User.objects.create(
        email=EMAIL, first_name=FIRST, last_name=LAST, is_active=True,
        default_billing_address=address,
    )
    user.addresses.add(address)
    return user


@pytest.fixture
def finance(sc_client, staff_user, permission_manage_users, permission_manage_payments):
    grant(staff_user, permission_manage_users, permission_manage_payments)
    return sc_client(user=staff_user)


def leave_traces(user, staff) -> Account:
    """Everything the plugin writes about a customer, through its own services:
    ledger lines (staff and customer actors, a reason naming the customer), a payout
    (payee name, e-mail, address, bank details), credit audit rows, an order hold,
    webhook outbox rows, a gift card attempt and a run filter. Leaves 19.00 USD."""
    staff_actor, customer_actor = Actor.for_user(staff), Actor.for_user(user)
    from saleor_store_credit.ledger import get_or_create_account

    account = get_or_create_account(user=user, currency="USD")
    entry = credit(account=account, amount="20.00", kind="adjustment", actor=staff_actor,
                   reason=f"Goodwill for {FIRST} {LAST} <{EMAIL}>")
    debit(account=account, amount="1.00", kind="payment", actor=customer_actor)
    from saleor_store_credit.payouts import set_payout_details

    set_payout_details(user=user, account_number=IBAN, account_holder=f"{FIRST} {LAST}",
                       actor=staff_actor)
    run = start_run(spec=RunSpec.build(currency="USD", minimum="1", email=EMAIL),
                    actor=staff_actor)
    process_run(run.pk)
    payout = Payout.objects.get(run=run)
    assert payout.payee_email == EMAIL and payout.payout_account == IBAN
    resolve_payout(payout_id=payout.pk, status="failed", actor=staff_actor,
                   note=f"Bank refused the account of {FIRST} {LAST}")
    update_profile(user=user, actor=staff_actor, on_hold=False)
    audit.record(AuditKind.CHECK_PASSED, customer_actor, f"Checkout of {EMAIL} passed",
                 user_id=user.pk, data={"email": EMAIL})
    OrderHold.objects.create(
        order_id=uuid.uuid4(), user=user, channel_slug="default-channel", currency="USD",
        order_total=Decimal("10.00"),
        reasons=[{"rule_type": "order_value", "message": f"Order of {EMAIL} over 5"}],
        resolution_reason=f"Called {FIRST}",
    )
    settings = StoreCreditSettings(webhook_targets=("https://accounting.example/hook",),
                                   webhook_secret="secret")
    enqueue("balance_changed", entry_payload(entry, account), settings=settings)
    GiftCardRedeemAttempt.objects.create(user=user, client_address=CLIENT_ADDRESS)
    account.refresh_from_db()
    assert account.balance == Decimal("19.00")
    return account


def delete_customer(path, user, staff_api_client, permission_manage_users):
    if path == "customerDelete":
        staff_api_client.user.user_permissions.add(permission_manage_users)
        body = staff_api_client.post_graphql(CUSTOMER_DELETE, {"id": gid("User", user.pk)})
        assert not body.json()["data"]["customerDelete"]["errors"], body.json()
    elif path == "customerBulkDelete":
        staff_api_client.user.user_permissions.add(permission_manage_users)
        body = staff_api_client.post_graphql(CUSTOMER_BULK_DELETE,
                                             {"ids": [gid("User", user.pk)]})
        assert body.json()["data"]["customerBulkDelete"]["count"] == 1, body.json()
    else:  # the customer deletes their own account (token from accountRequestDeletion)
        client = ApiClient(user=user)
        token = account_delete_token_generator.make_token(user)
        body = client.post_graphql(ACCOUNT_DELETE, {"token": token})
        assert not body.json()["data"]["accountDelete"]["errors"], body.json()
    assert not User.objects.filter(pk=user.pk).exists()


# --- deleting a customer ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["customerDelete", "customerBulkDelete", "accountDelete"])
def test_customer_deletion_leaves_no_personal_data_in_any_plugin_table(
    path, store_credit_plugin, doomed, staff_user, staff_api_client, permission_manage_users,
):
    # given a customer the plugin knows a lot about
    account = leave_traces(doomed, staff_user)
    user_pk = doomed.pk
    assert personal_data_left()  # the scan finds what is there

    # when Saleor deletes the customer
    delete_customer(path, doomed, staff_api_client, permission_manage_users)

    # then no e-mail, name, address, client address or bank detail is left anywhere
    assert personal_data_left() == {}
    # ... a stable placeholder says who it was, and the money stays accounted
    account.refresh_from_db()
    assert account.user_id is None and account.email == ""
    assert account.former_user_id == user_pk and account.anonymised_at is not None
    assert account.balance == Decimal("19.00")
    labels = set(Entry.objects.filter(account=account, actor_type="customer")
                 .values_list("actor_label", flat=True))
    assert labels == {f"deleted user #{user_pk}"}
    payout = Payout.objects.get(account=account)
    assert payout.payee_name == f"deleted user #{user_pk}"
    assert (payout.payee_email, payout.payee_address, payout.payout_account) == ("", "", "")
    assert not GiftCardRedeemAttempt.objects.filter(client_address=CLIENT_ADDRESS).exists()
    report = ledger_verify()
    assert report.ok, report.summary()


def test_ledger_lines_stay_append_only_outside_anonymisation(store_credit_plugin, doomed):
    # given a ledger line
    account = Account.objects.create(user=doomed, email=EMAIL, currency="USD")
    entry = credit(account=account, amount="5.00", kind="adjustment", actor=Actor.for_user(doomed))

    # when anyone rewrites it outside the anonymisation, or rewrites money during it
    def attempt(sql, params, anonymising):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
            if anonymising:
                cur.execute("SELECT set_config('store_credit.anonymising', 'on', true)")
            cur.execute(sql, params)

    # then the database refuses
    attempt("UPDATE saleor_store_credit_entry SET actor_label = 'x' WHERE id = %s",
            [entry.pk], anonymising=False)
    attempt("UPDATE saleor_store_credit_entry SET amount = 1, actor_label = 'x' WHERE id = %s",
            [entry.pk], anonymising=True)
    attempt("DELETE FROM saleor_store_credit_entry WHERE id = %s", [entry.pk], anonymising=True)
    entry.refresh_from_db()
    assert entry.actor_label == EMAIL and entry.amount == Decimal("5.0000")


# --- orphaned balances ------------------------------------------------------------------


def _period():
    now = timezone.now()
    return {"start": (now - timedelta(days=1)).isoformat(),
            "end": (now + timedelta(minutes=5)).isoformat()}


def test_orphaned_balance_appears_in_liability_report_and_reconciliation(
    finance, doomed, staff_user, staff_api_client, permission_manage_users,
    permission_manage_settings,
):
    # given a deleted customer who still had 19.00 USD
    account = leave_traces(doomed, staff_user)
    user_pk = doomed.pk
    delete_customer("customerDelete", doomed, staff_api_client, permission_manage_users)
    grant(staff_user, permission_manage_settings)

    # when finance reads the liability report and the nightly reconciliation runs
    report = finance.query(REPORT, _period())["data"]["storeCreditLiabilityReport"]
    assert reconcile_ledger_task.delay().get() is True
    checks = finance.query(CHECKS)["data"]["storeCreditLedgerChecks"]

    # then the balance is still owed, shown as an orphaned balance
    (row,) = report["rows"]
    assert row["closing"] == 19 and row["orphaned"] == 19 and row["writtenOff"] == 0
    (orphan,) = report["orphaned"]
    assert orphan["accountId"] == gid("StoreCreditAccount", account.pk)
    assert orphan["balance"] == {"amount": 19, "currency": "USD"}
    assert orphan["label"] == f"deleted user #{user_pk}"
    assert orphan["orphanedAt"]
    assert "orphaned" in report["csv"].splitlines()[0]
    assert checks[0]["ok"] is True
    import json

    assert json.loads(checks[0]["orphaned"]) == [
        {"account_id": account.pk, "currency": "USD", "balance": "19.00",
         "former_user_id": user_pk}
    ]


def test_write_off_of_an_orphaned_balance_needs_handle_payments_and_a_reason(
    sc_client, doomed, staff_user, staff_api_client, customer_user,
    permission_manage_users, permission_manage_payments,
):
    # given an orphaned 19.00 USD balance and a live customer's balance
    account = leave_traces(doomed, staff_user)
    delete_customer("customerDelete", doomed, staff_api_client, permission_manage_users)
    from saleor_store_credit.ledger import get_or_create_account

    live = get_or_create_account(user=customer_user, currency="USD")
    credit(account=live, amount="3.00", kind="adjustment", actor=Actor.system())
    account_id = gid("StoreCreditAccount", account.pk)
    user_admin = User.objects.create(email="users-only@example.com", is_staff=True,
                                     is_active=True)
    grant(user_admin, permission_manage_users)
    grant(staff_user, permission_manage_payments)
    finance = sc_client(user=staff_user)
    variables = {"id": account_id, "reason": "Customer deleted, unclaimed", "key": "wo-1"}

    # when staff without HANDLE_PAYMENTS try, then they are refused and nothing moves
    refused = sc_client(user=user_admin).query(WRITE_OFF, variables)
    assert refused["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
    # a reason is required, and only orphaned accounts can be written off
    blank = finance.query(WRITE_OFF, {**variables, "reason": "  "})
    assert blank["data"]["storeCreditWriteOffOrphaned"]["errors"][0]["code"] == "REQUIRED"
    not_orphaned = finance.query(
        WRITE_OFF, {**variables, "id": gid("StoreCreditAccount", live.pk), "key": "wo-2"})
    assert not_orphaned["data"]["storeCreditWriteOffOrphaned"]["errors"][0]["code"] == (
        "ACCOUNT_NOT_ORPHANED")
    bad_id = finance.query(WRITE_OFF, {**variables, "id": "not-an-id", "key": "wo-3"})
    assert bad_id["data"]["storeCreditWriteOffOrphaned"]["errors"][0]["code"] == "NOT_FOUND"
    account.refresh_from_db()
    live.refresh_from_db()
    assert account.balance == Decimal("19.00") and live.balance == Decimal("3.00")

    # when finance writes it off with a reason
    done = finance.query(WRITE_OFF, variables)["data"]["storeCreditWriteOffOrphaned"]
    replay = finance.query(WRITE_OFF, variables)["data"]["storeCreditWriteOffOrphaned"]

    # then one write-off entry takes the whole balance, exactly once, audited
    assert done["errors"] == [] and replay["entry"]["id"] == done["entry"]["id"]
    assert done["entry"]["kind"] == "WRITE_OFF"
    assert done["entry"]["amount"] == {"amount": 19, "currency": "USD"}
    assert done["entry"]["reason"] == "Customer deleted, unclaimed"
    assert done["account"]["balance"]["amount"] == 0
    entry = Entry.objects.get(account=account, kind="write_off")
    assert entry.actor_type == "staff" and entry.actor_id == str(staff_user.pk)
    report = finance.query(REPORT, _period())["data"]["storeCreditLiabilityReport"]
    (row,) = report["rows"]
    assert row["writtenOff"] == 19 and row["orphaned"] == 0 and row["closing"] == 3
    assert report["orphaned"] == []
    assert ledger_verify().ok


# --- payout bank details ----------------------------------------------------------------


def test_payout_bank_details_stay_out_of_saleor_metadata_and_are_masked(
    sc_client, customer_user, staff_user, staff_api_client, permission_manage_users,
    permission_manage_payments,
):
    # given staff who manage users only, and finance (users + payments)
    user_admin = User.objects.create(email="users-only@example.com", is_staff=True,
                                     is_active=True)
    grant(user_admin, permission_manage_users)
    grant(staff_user, permission_manage_users, permission_manage_payments)
    users_only, finance = sc_client(user=user_admin), sc_client(user=staff_user)
    customer = gid("User", customer_user.pk)

    # when staff without HANDLE_PAYMENTS try to set them, they are refused
    refused = users_only.query(DETAILS_SET, {"id": customer, "account": IBAN})
    assert refused["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"

    # when finance sets the customer's bank details
    saved = finance.query(DETAILS_SET, {"id": customer, "account": IBAN,
                                        "holder": "J. Doe"})["data"]
    assert saved["storeCreditPayoutDetailsSet"]["errors"] == []

    # then they are not in Saleor's private metadata (readable with MANAGE_USERS)
    customer_user.refresh_from_db()
    assert METADATA_KEY not in (customer_user.private_metadata or {})
    staff_api_client.user.user_permissions.add(permission_manage_users)
    metadata = staff_api_client.post_graphql(SALEOR_USER_METADATA, {"id": customer}).json()
    assert IBAN not in str(metadata) and IBAN[-4:] not in str(metadata)
    # ... MANAGE_USERS-only staff see them masked and cannot read them in full
    masked = users_only.query(CUSTOMER_DETAILS, {"id": customer})
    assert masked["data"]["customerStoreCredit"]["payoutDetails"] == {
        "accountMasked": "****4300", "accountHolder": "J. Doe"}
    full = users_only.query(CUSTOMER_DETAILS_FULL, {"id": customer})
    assert full["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
    assert IBAN not in str(full)
    # ... finance (HANDLE_PAYMENTS) reads them in full
    full = finance.query(CUSTOMER_DETAILS_FULL, {"id": customer})
    assert full["data"]["customerStoreCredit"]["payoutDetails"] == {
        "accountMasked": "****4300", "account": IBAN}


def test_payouts_show_bank_details_masked_and_in_full_only_on_request(
    finance, customer_user, staff_user
):
    # given a customer with bank details and a balance, paid out by a run
    from saleor_store_credit.ledger import get_or_create_account
    from saleor_store_credit.payouts import set_payout_details

    credit(account=get_or_create_account(user=customer_user, currency="USD"),
           amount="12.00", kind="adjustment", actor=Actor.system())
    set_payout_details(user=customer_user, account_number=IBAN, actor=Actor.system())
    preview = finance.query(PREVIEW, {"input": {"currency": "USD", "minimumAmount": "1"}})
    assert preview["data"]["reimbursementRunPreview"]["accounts"] == [
        {"email": customer_user.email, "detailsMissing": False}]
    run = start_run(spec=RunSpec.build(currency="USD", minimum="1"),
                    actor=Actor.for_user(staff_user))
    process_run(run.pk)
    run_id = gid("ReimbursementRun", run.pk)

    # when finance reads the run
    view = finance.query(RUN, {"id": run_id})["data"]["reimbursementRun"]
    full_view = finance.query(RUN, {"id": run_id, "full": True})["data"]["reimbursementRun"]
    full_field = finance.query(RUN_FULL, {"id": run_id})["data"]["reimbursementRun"]

    # then the account is masked by default (API and CSV) and full only on request
    assert view["payouts"] == [{"payoutAccount": "****4300", "detailsMissing": False}]
    (row,) = list(csv.DictReader(io.StringIO(view["csv"])))
    assert row["payout_account"] == "****4300" and IBAN not in view["csv"]
    (row,) = list(csv.DictReader(io.StringIO(full_view["csv"])))
    assert row["payout_account"] == IBAN
    assert full_field["payouts"] == [{"payoutAccountFull": IBAN}]
    # ... and the outgoing webhook payload carries it masked only
    from saleor_store_credit.reimbursement import payout_payload

    assert payout_payload(Payout.objects.get(run=run))["payout_account"] == "****4300"


def test_full_payout_accounts_need_handle_payments(
    sc_client, customer_user, staff_user, permission_manage_users
):
    # given staff who can read runs' masked view only through users permission
    from saleor_store_credit.payouts import set_payout_details

    set_payout_details(user=customer_user, account_number=IBAN, actor=Actor.system())
    grant(staff_user, permission_manage_users)
    client = sc_client(user=staff_user)

    # when they ask for the full account, then they are refused
    content = client.query(CUSTOMER_DETAILS_FULL, {"id": gid("User", customer_user.pk)})
    assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
    assert IBAN not in str(content)


def test_data_migration_moves_payout_accounts_out_of_private_metadata(db):
    # given customers whose bank details are in Saleor private metadata (old releases)
    users = []
    for index in range(5):
        user = User.objects.create(email=f"old-{index}@example.com", is_active=True)
        user.store_value_in_private_metadata({METADATA_KEY: f"NL00BANK000000000{index}",
                                              "other.key": "kept"})
        user.save(update_fields=["private_metadata"])
        users.append(user)
    no_details = User.objects.create(email="none@example.com", is_active=True)
    blank = User.objects.create(email="blank@example.com", is_active=True,
                                private_metadata={METADATA_KEY: "  "})
    migration = importlib.import_module(
        "saleor_store_credit.migrations.0016_move_payout_details_out_of_metadata")
    from saleor_store_credit.models import PayoutDetails

    # when the data migration runs in small batches (twice: it is re-runnable)
    migration.move_payout_accounts(apps, None, batch_size=2)
    migration.move_payout_accounts(apps, None, batch_size=2)

    # then the values are in the plugin's own table and gone from the metadata
    for index, user in enumerate(users):
        user.refresh_from_db()
        assert user.private_metadata == {"other.key": "kept"}
        assert PayoutDetails.objects.get(user=user).account_number == (
            f"NL00BANK000000000{index}")
    blank.refresh_from_db()
    assert METADATA_KEY not in blank.private_metadata
    assert not PayoutDetails.objects.filter(user__in=[no_details, blank]).exists()
    assert PayoutDetails.objects.count() == 5


def test_invalid_payout_details_are_refused_and_change_nothing(
    finance, customer_user
):
    # given details already saved
    from saleor_store_credit.models import PayoutDetails
    from saleor_store_credit.payouts import set_payout_details

    set_payout_details(user=customer_user, account_number=IBAN, actor=Actor.system())
    customer = gid("User", customer_user.pk)

    # when finance sends a number that is too long or not printable, or an unknown customer
    too_long = finance.query(DETAILS_SET, {"id": customer, "account": "1" * 65})
    control = finance.query(DETAILS_SET, {"id": customer, "account": "NL91\x00ABNA"})
    unknown = finance.query(DETAILS_SET, {"id": gid("User", 0), "account": IBAN})

    # then each is an error in the plugin's shape and the saved details stay
    assert too_long["data"]["storeCreditPayoutDetailsSet"]["errors"][0] == {
        "field": "accountNumber", "code": "INVALID",
        "message": "The account number must be at most 64 printable characters."}
    assert control["data"]["storeCreditPayoutDetailsSet"]["errors"][0]["code"] == "INVALID"
    assert unknown["data"]["storeCreditPayoutDetailsSet"]["errors"][0]["code"] == "NOT_FOUND"
    assert PayoutDetails.objects.get(user=customer_user).account_number == IBAN


def test_credit_audit_rows_cannot_be_deleted_even_while_anonymising(store_credit_plugin, doomed):
    # given an audit row
    row = audit.record(AuditKind.CHECK_PASSED, Actor.for_user(doomed), "passed",
                       user_id=doomed.pk)

    # when it is deleted, or its kind rewritten, during an anonymisation
    for sql in ("DELETE FROM saleor_store_credit_creditaudit WHERE id = %s",
                "UPDATE saleor_store_credit_creditaudit SET kind = 'order_held' WHERE id = %s"):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT set_config('store_credit.anonymising', 'on', true)")
            cur.execute(sql, [row.pk])

    # then it is unchanged
    row.refresh_from_db()
    assert row.kind == AuditKind.CHECK_PASSED
