"""The plugin's GraphQL endpoint inside real Saleor: auth, permissions, operations."""

from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON  # noqa: E402

pytest.importorskip("saleor", reason=SKIP_REASON)

import graphene  # noqa: E402
from django.core import mail  # noqa: E402

from saleor.account.models import User  # noqa: E402

from saleor_store_credit.ledger import Actor, credit, get_or_create_account  # noqa: E402
from saleor_store_credit.models import Account, Entry  # noqa: E402

ME = """
query {
  me {
    id email
    storeCredit {
      accounts { id currency balance { amount currency } available { amount currency } held { amount } }
      entries(first: 10) {
        totalCount
        edges { cursor node { kind direction amount { amount currency } balanceAfter { amount } reason actorType actorLabel orderId } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""

CUSTOMER = """
query ($id: ID!) {
  customerStoreCredit(customerId: $id) {
    id email
    storeCredit { accounts { currency balance { amount } } entries(first: 5) { totalCount edges { node { reason actorLabel } } } }
  }
}
"""

ADJUST = """
mutation ($id: ID!, $amount: Decimal!, $currency: String!, $reason: String!,
          $notify: Boolean, $key: String) {
  storeCreditAdjust(customerId: $id, amount: $amount, currency: $currency,
                    reason: $reason, notifyCustomer: $notify, idempotencyKey: $key) {
    entry { id kind direction amount { amount currency } balanceAfter { amount } reason }
    account { currency balance { amount } available { amount } }
    errors { field code message }
  }
}
"""


def user_gid(user):
    return graphene.Node.to_global_id("User", user.pk)


@pytest.fixture
def other_customer(db):
    return User.objects.create(email="other@example.com", is_active=True)


@pytest.fixture
def funded_customer(customer_user):
    account = get_or_create_account(user=customer_user, currency="USD")
    credit(account=account, amount="25.50", kind="adjustment", actor=Actor.system(),
           reason="welcome")
    return customer_user


@pytest.fixture
def requestor(request, sc_client, customer_user, other_customer, staff_user, app,
              permission_manage_users):
    """Build a client for one row of the permission matrix."""
    name = request.param
    if name == "anonymous":
        return sc_client()
    if name == "customer":
        return sc_client(user=customer_user)
    if name == "other_customer":
        return sc_client(user=other_customer)
    if name == "staff_without_permission":
        return sc_client(user=staff_user)
    if name == "staff_with_permission":
        staff_user.user_permissions.add(permission_manage_users)
        return sc_client(user=staff_user)
    if name == "app_without_permission":
        return sc_client(app=app)
    if name == "app_with_permission":
        app.permissions.add(permission_manage_users)
        return sc_client(app=app)
    raise AssertionError(name)


ALL = [
    "anonymous", "customer", "other_customer", "staff_without_permission",
    "staff_with_permission", "app_without_permission", "app_with_permission",
]
STAFF = {"staff_with_permission", "app_with_permission"}


def _denied(content):
    assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"


@pytest.mark.parametrize("requestor", ALL, indirect=True)
def test_me_shows_only_the_callers_own_credit(requestor, request, funded_customer):
    content = requestor.query(ME)

    name = request.node.callspec.params["requestor"]
    me = content["data"]["me"]
    assert "errors" not in content
    if name == "customer":
        accounts = me["storeCredit"]["accounts"]
        assert accounts[0]["balance"] == {"amount": 25.5, "currency": "USD"}
        assert me["storeCredit"]["entries"]["totalCount"] == 1
        assert me["storeCredit"]["entries"]["edges"][0]["node"]["actorLabel"] is None
    elif name in ("anonymous", "app_without_permission", "app_with_permission"):
        assert me is None
    else:
        # another customer or a staff member: their own (empty) credit, never ours
        assert me["email"] != funded_customer.email
        assert me["storeCredit"]["accounts"] == []
        assert me["storeCredit"]["entries"]["totalCount"] == 0


@pytest.mark.parametrize("requestor", ALL, indirect=True)
def test_customer_store_credit_needs_manage_users(requestor, request, funded_customer):
    content = requestor.query(CUSTOMER, {"id": user_gid(funded_customer)})

    name = request.node.callspec.params["requestor"]
    if name in STAFF:
        data = content["data"]["customerStoreCredit"]
        assert data["email"] == funded_customer.email
        assert data["storeCredit"]["accounts"][0]["balance"]["amount"] == 25.5
        assert data["storeCredit"]["entries"]["edges"][0]["node"]["actorLabel"] == "system"
    else:
        assert content["data"]["customerStoreCredit"] is None
        _denied(content)


@pytest.mark.parametrize("requestor", ALL, indirect=True)
def test_store_credit_adjust_needs_manage_users_and_handle_payments(
    requestor, request, funded_customer, permission_manage_payments
):
    # "with permission" rows hold MANAGE_USERS; moving money also needs HANDLE_PAYMENTS
    # (every cell of the matrix: tests/integration/test_access.py)
    name = request.node.callspec.params["requestor"]
    if name == "staff_with_permission":
        requestor.user.user_permissions.add(permission_manage_payments)
    elif name == "app_with_permission":
        requestor.app.permissions.add(permission_manage_payments)
    content = requestor.query(
        ADJUST,
        {"id": user_gid(funded_customer), "amount": "4.50", "currency": "USD",
         "reason": "goodwill"},
    )

    name = request.node.callspec.params["requestor"]
    account = Account.objects.get(user=funded_customer, currency="USD")
    if name in STAFF:
        payload = content["data"]["storeCreditAdjust"]
        assert payload["errors"] == []
        assert payload["account"]["balance"]["amount"] == 30
        assert account.balance == Decimal("30.00")
    else:
        assert content["data"]["storeCreditAdjust"] is None
        _denied(content)
        assert account.balance == Decimal("25.50")


@pytest.fixture
def staff_client(sc_client, staff_user, permission_manage_users, permission_manage_payments):
    staff_user.user_permissions.add(permission_manage_users, permission_manage_payments)
    return sc_client(user=staff_user)


def test_adjust_adds_exact_money_and_records_who_did_it(
    staff_client, customer_user, staff_user
):
    content = staff_client.query(
        ADJUST,
        {"id": user_gid(customer_user), "amount": "0.10", "currency": "usd",
         "reason": "price match"},
    )
    content = staff_client.query(
        ADJUST,
        {"id": user_gid(customer_user), "amount": "0.20", "currency": "USD",
         "reason": "price match"},
    )

    payload = content["data"]["storeCreditAdjust"]
    assert payload["account"]["balance"]["amount"] == 0.3
    assert Account.objects.get(user=customer_user).balance == Decimal("0.30")
    entry = Entry.objects.order_by("-id").first()
    assert entry.actor_type == "staff"
    assert entry.actor_label == staff_user.email
    assert entry.reason == "price match"


def test_adjust_response_writes_money_as_exact_json_numbers(staff_client, customer_user):
    response = staff_client.post_graphql(
        ADJUST,
        {"id": user_gid(customer_user), "amount": "12345678901234.10",
         "currency": "USD", "reason": "big"},
    )
    assert b'"balance":{"amount":12345678901234.10}' in response.content


def test_adjust_deducts_with_a_negative_amount(staff_client, funded_customer):
    content = staff_client.query(
        ADJUST,
        {"id": user_gid(funded_customer), "amount": "-5.50", "currency": "USD",
         "reason": "correction"},
    )
    payload = content["data"]["storeCreditAdjust"]
    assert payload["entry"]["direction"] == "DEBIT"
    assert payload["entry"]["amount"]["amount"] == 5.5
    assert payload["account"]["balance"]["amount"] == 20


@pytest.mark.parametrize(
    ("amount", "currency", "field", "code"),
    [
        ("0", "USD", "amount", "INVALID_AMOUNT"),
        ("NaN", "USD", "amount", "INVALID_AMOUNT"),
        ("Infinity", "USD", "amount", "INVALID_AMOUNT"),
        ("-Infinity", "USD", "amount", "INVALID_AMOUNT"),
        ("1.001", "USD", "amount", "INVALID_AMOUNT"),
        ("1.5", "JPY", "amount", "INVALID_AMOUNT"),
        ("1.2345", "KWD", "amount", "INVALID_AMOUNT"),
        ("123456789012345678901", "JPY", "amount", "INVALID_AMOUNT"),
        ("abc", "USD", "amount", "INVALID_AMOUNT"),
        ("-25.51", "USD", "amount", "INSUFFICIENT_FUNDS"),
        ("1", "XXQ", "currency", "INVALID_CURRENCY"),
    ],
)
def test_adjust_refuses_bad_amounts_with_codes_and_changes_nothing(
    staff_client, funded_customer, amount, currency, field, code
):
    before = Entry.objects.count()
    accounts_before = Account.objects.count()

    content = staff_client.query(
        ADJUST,
        {"id": user_gid(funded_customer), "amount": amount, "currency": currency,
         "reason": "x"},
    )

    errors = content["data"]["storeCreditAdjust"]["errors"]
    assert errors[0]["field"] == field
    assert errors[0]["code"] == code
    assert Entry.objects.count() == before
    assert Account.objects.count() == accounts_before


def test_adjust_refuses_json_floats_by_reading_them_exactly(
    staff_client, funded_customer
):
    # A JSON number is parsed as an exact decimal, never as a binary float: 0.1
    # stays 0.1 and 0.001 is refused for having too many decimals.
    query = ADJUST.replace("$amount: Decimal!", "$amount: Decimal!")
    body = (
        '{"query": %s, "variables": {"id": "%s", "amount": 0.001, "currency": "USD",'
        ' "reason": "x"}}'
    )
    import json

    response = staff_client.generic(
        "POST", staff_client.api_path,
        body % (json.dumps(query), user_gid(funded_customer)),
        content_type="application/json",
    )
    errors = response.json()["data"]["storeCreditAdjust"]["errors"]
    assert errors[0]["code"] == "INVALID_AMOUNT"

    response = staff_client.generic(
        "POST", staff_client.api_path,
        (body % (json.dumps(query), user_gid(funded_customer))).replace("0.001", "0.1"),
        content_type="application/json",
    )
    assert response.json()["data"]["storeCreditAdjust"]["account"]["balance"]["amount"] == 25.6


def test_adjust_to_unknown_customer_is_not_found(staff_client):
    content = staff_client.query(
        ADJUST,
        {"id": graphene.Node.to_global_id("User", 999999), "amount": "1",
         "currency": "USD", "reason": "x"},
    )
    errors = content["data"]["storeCreditAdjust"]["errors"]
    assert errors == [{"field": "customerId", "code": "NOT_FOUND", "message": "Customer not found."}]


def test_adjust_requires_a_reason(staff_client, customer_user):
    content = staff_client.query(
        ADJUST, {"id": user_gid(customer_user), "amount": "1", "currency": "USD", "reason": " "}
    )
    assert content["data"]["storeCreditAdjust"]["errors"][0]["field"] == "reason"
    assert not Account.objects.filter(user=customer_user).exists()


def test_adjust_replay_with_idempotency_key_returns_the_first_result(
    staff_client, customer_user
):
    variables = {"id": user_gid(customer_user), "amount": "7", "currency": "USD",
                 "reason": "retry me", "key": "adj-1"}
    first = staff_client.query(ADJUST, variables)["data"]["storeCreditAdjust"]
    again = staff_client.query(ADJUST, variables)["data"]["storeCreditAdjust"]
    conflict = staff_client.query(ADJUST, {**variables, "amount": "8"})[
        "data"]["storeCreditAdjust"]

    assert first["entry"]["id"] == again["entry"]["id"]
    assert again["account"]["balance"]["amount"] == 7
    assert conflict["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert Account.objects.get(user=customer_user).balance == Decimal("7.00")


@pytest.mark.parametrize("store_credit_config", [{"max_balance_per_account": "30"}])
def test_adjust_respects_the_configured_maximum_balance(
    staff_client, funded_customer, store_credit_config
):
    content = staff_client.query(
        ADJUST,
        {"id": user_gid(funded_customer), "amount": "4.51", "currency": "USD",
         "reason": "x"},
    )
    assert content["data"]["storeCreditAdjust"]["errors"][0]["code"] == "BALANCE_LIMIT_EXCEEDED"


def test_adjust_mirrors_the_balance_into_private_metadata(staff_client, customer_user):
    customer_user.store_value_in_private_metadata({"crm.id": "42"})
    customer_user.save(update_fields=["private_metadata"])

    staff_client.query(
        ADJUST, {"id": user_gid(customer_user), "amount": "3.30", "currency": "EUR",
                 "reason": "x"},
    )

    customer_user.refresh_from_db()
    assert customer_user.private_metadata["store_credit.balance.EUR"] == "3.3"
    assert customer_user.private_metadata["crm.id"] == "42"


def test_adjust_with_notify_logs_the_plugins_own_e_mail_not_a_notify_user_event(
    staff_client, customer_user, settings, webhook_app, permission_manage_users
):
    """Saleor's mailers drop unknown NOTIFY_USER names, so the plugin mails itself
    (tests/integration/test_emails.py receives the messages over SMTP). Here no SMTP
    server is configured: the e-mail is logged as skipped, no NOTIFY_USER is sent."""
    from saleor.core.models import EventPayload
    from saleor.webhook.event_types import WebhookEventAsyncType
    from saleor.webhook.models import Webhook, WebhookEvent

    from saleor_store_credit.models import EmailDelivery

    webhook = Webhook.objects.create(
        name="notify", app=webhook_app, target_url="https://mail.example.com/hook"
    )
    WebhookEvent.objects.create(
        webhook=webhook, event_type=WebhookEventAsyncType.NOTIFY_USER
    )

    staff_client.query(
        ADJUST,
        {"id": user_gid(customer_user), "amount": "5", "currency": "USD",
         "reason": "sorry", "notify": True},
    )

    payloads = [p.get_payload() for p in EventPayload.objects.all()]
    assert not any("store_credit_balance_changed" in p for p in payloads)
    [row] = EmailDelivery.objects.all()
    assert (row.event, row.recipient, row.status) == (
        "balance_changed", customer_user.email, "skipped")
    assert mail.outbox == []  # never Django's configured backend (locmem in tests)


def test_revoked_jwt_is_refused_like_saleors_api(store_credit_plugin, client, customer_user):
    from saleor.core.jwt import create_access_token

    from .fixtures import STORE_CREDIT_API

    token = create_access_token(customer_user)
    customer_user.jwt_token_key = "rotated"  # e.g. after a password change
    customer_user.save(update_fields=["jwt_token_key"])

    response = client.post(
        STORE_CREDIT_API, {"query": "{ me { email } }"},
        content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}",
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["exception"]["code"] == "InvalidTokenError"


def test_a_token_saleor_did_not_issue_is_treated_as_anonymous(store_credit_plugin, client):
    # Saleor ignores JWTs it did not sign (other auth plugins may own them).
    from .fixtures import STORE_CREDIT_API

    response = client.post(
        STORE_CREDIT_API, {"query": "{ me { email } }"},
        content_type="application/json", HTTP_AUTHORIZATION="JWT not-a-token",
    )
    content = response.json()
    assert "errors" not in content
    assert content["data"] == {"me": None}


def test_entries_paginate_newest_first_with_cursors(sc_client, customer_user):
    account = get_or_create_account(user=customer_user, currency="USD")
    for index in range(5):
        credit(account=account, amount=str(index + 1), kind="adjustment",
               actor=Actor.system(), reason=f"r{index}")
    client = sc_client(user=customer_user)
    query = """query ($after: String) { me { storeCredit { entries(first: 2, after: $after) {
        totalCount edges { node { reason } } pageInfo { hasNextPage endCursor } } } } }"""

    seen = []
    after = None
    while True:
        page = client.query(query, {"after": after})["data"]["me"]["storeCredit"]["entries"]
        seen += [edge["node"]["reason"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == ["r4", "r3", "r2", "r1", "r0"]
    assert page["totalCount"] == 5
