"""Gift card -> store credit inside real Saleor, with Saleor's gift card fixtures."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

import graphene  # noqa: E402
from django.db import connection  # noqa: E402

from saleor.account.models import User  # noqa: E402
from saleor.giftcard import GiftCardEvents  # noqa: E402
from saleor.giftcard.models import GiftCard  # noqa: E402

from saleor_store_credit import compat  # noqa: E402
from saleor_store_credit.conf import StoreCreditSettings  # noqa: E402
from saleor_store_credit.errors import StoreCreditError  # noqa: E402
from saleor_store_credit.giftcards import INVALID_CODE_MESSAGE, redeem_gift_card  # noqa: E402
from saleor_store_credit.ledger import Actor, ledger_verify  # noqa: E402
from saleor_store_credit.models import Account, Entry, GiftCardRedeemAttempt  # noqa: E402

REDEEM = """
mutation ($code: String!, $customer: ID, $key: String) {
  giftCardRedeemToStoreCredit(code: $code, customerId: $customer, idempotencyKey: $key) {
    entry { id kind amount { amount currency } reason }
    account { balance { amount currency } }
    errors { field code message }
  }
}
"""


def payload(content):
    assert "errors" not in content, content
    return content["data"]["giftCardRedeemToStoreCredit"]


@pytest.fixture
def shopper(sc_client, customer_user):
    return sc_client(user=customer_user)


def test_customer_converts_a_gift_card_into_store_credit(shopper, gift_card, customer_user):
    # when
    result = payload(shopper.query(REDEEM, {"code": gift_card.code}))

    # then
    assert result["errors"] == []
    assert result["entry"]["kind"] == "GIFT_CARD"
    assert result["account"]["balance"] == {"amount": 10, "currency": "USD"}
    gift_card.refresh_from_db()
    assert gift_card.current_balance_amount == 0
    assert gift_card.is_active  # deactivation is opt-in
    events = {e.type: e for e in gift_card.events.all()}
    adjusted = events[compat.gift_card_balance_event_type()].parameters["balance"]
    assert Decimal(str(adjusted["old_current_balance"])) == Decimal("10")
    entry = Entry.objects.get(kind="gift_card")
    assert f"ledger entry {entry.pk}" in events[GiftCardEvents.NOTE_ADDED].parameters["message"]
    assert entry.gift_card_id == gift_card.pk
    assert ledger_verify().ok


@pytest.mark.parametrize("store_credit_config", [{"deactivate_redeemed_gift_cards": True}])
def test_drained_card_can_be_deactivated_by_configuration(
    shopper, gift_card, store_credit_config
):
    payload(shopper.query(REDEEM, {"code": gift_card.code}))
    gift_card.refresh_from_db()
    assert not gift_card.is_active
    assert gift_card.events.filter(type=GiftCardEvents.DEACTIVATED).exists()


def _make_unusable(kind, gift_card, other_customer, checkout, order):
    if kind == "unknown":
        return "nosuchcode123"
    if kind == "inactive":
        gift_card.is_active = False
    elif kind == "expired":
        gift_card.expiry_date = date.today() - timedelta(days=1)
    elif kind == "empty":
        gift_card.current_balance_amount = 0
    elif kind == "assigned_to_someone_else":
        gift_card.assigned_to = other_customer
        gift_card.assigned_to_email = other_customer.email
    elif kind == "in_a_checkout":
        checkout.gift_cards.add(gift_card)
    elif kind == "in_an_unconfirmed_order":
        order.status = "unconfirmed"
        order.save(update_fields=["status"])
        order.gift_cards.add(gift_card)
    gift_card.save()
    return gift_card.code


GIFT_CARDS_HAVE_ASSIGNEES = any(f.name == "assigned_to" for f in GiftCard._meta.get_fields())


@pytest.mark.parametrize(
    "kind",
    ["unknown", "inactive", "expired", "empty",
     pytest.param("assigned_to_someone_else", marks=pytest.mark.skipif(
         not GIFT_CARDS_HAVE_ASSIGNEES,
         reason="Saleor before 3.23 has no gift card assignee (GiftCard.assigned_to)")),
     "in_a_checkout", "in_an_unconfirmed_order"],
)
def test_every_refusal_reason_gets_the_same_answer_and_changes_nothing(
    shopper, gift_card, checkout, order, kind
):
    other = User.objects.create(email="owner@example.com", is_active=True)
    code = _make_unusable(kind, gift_card, other, checkout, order)
    before = GiftCard.objects.get(pk=gift_card.pk).current_balance_amount

    result = payload(shopper.query(REDEEM, {"code": code}))

    assert result["errors"] == [
        {"field": "code", "code": "INVALID_GIFT_CARD", "message": INVALID_CODE_MESSAGE}
    ]
    assert result["entry"] is None
    assert GiftCard.objects.get(pk=gift_card.pk).current_balance_amount == before
    assert not Entry.objects.exists()


@pytest.mark.skipif(
    not compat.gift_cards_are_transactions(),
    reason="Saleor before 3.23 has no gift card transactions (TransactionItem.gift_card)",
)
def test_a_card_authorized_in_an_open_checkout_is_refused(shopper, gift_card, checkout):
    from saleor.payment.models import TransactionItem

    from saleor_store_credit.compat import GIFT_CARD_PAYMENT_GATEWAY_ID

    TransactionItem.objects.create(
        checkout=checkout, currency="USD", authorized_value=Decimal("5"),
        gift_card=gift_card, app_identifier=GIFT_CARD_PAYMENT_GATEWAY_ID,
    )

    result = payload(shopper.query(REDEEM, {"code": gift_card.code}))

    assert result["errors"][0]["code"] == "INVALID_GIFT_CARD"
    gift_card.refresh_from_db()
    assert gift_card.current_balance_amount == Decimal("10")


@pytest.mark.parametrize("store_credit_config", [{"gift_card_redeem_attempts_per_hour": "3"}])
def test_failed_attempts_are_limited_per_customer(
    shopper, gift_card, store_credit_config, sc_client, staff_user
):
    for index in range(3):
        result = payload(shopper.query(REDEEM, {"code": f"guess{index:08d}"}))
        assert result["errors"][0]["code"] == "INVALID_GIFT_CARD"

    # the right code is refused too once the limit is reached
    blocked = payload(shopper.query(REDEEM, {"code": gift_card.code}))
    assert blocked["errors"][0]["code"] == "TOO_MANY_ATTEMPTS"
    gift_card.refresh_from_db()
    assert gift_card.current_balance_amount == Decimal("10")

    # another customer is not affected
    other = payload(sc_client(user=staff_user).query(REDEEM, {"code": gift_card.code}))
    assert other["errors"] == []


def test_replay_with_the_same_idempotency_key_returns_the_first_result(
    shopper, gift_card
):
    first = payload(shopper.query(REDEEM, {"code": gift_card.code, "key": "gc-1"}))
    again = payload(shopper.query(REDEEM, {"code": gift_card.code, "key": "gc-1"}))

    assert again["errors"] == []
    assert again["entry"]["id"] == first["entry"]["id"]
    assert Entry.objects.count() == 1


def test_anonymous_callers_cannot_convert(sc_client, gift_card):
    content = sc_client().query(REDEEM, {"code": gift_card.code})
    assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"


@pytest.mark.parametrize(
    ("perms", "allowed"),
    [((), False), (("users",), False), (("gift_cards",), False),
     (("users", "gift_cards"), True)],
)
def test_staff_variant_needs_gift_card_and_user_permissions(
    sc_client, staff_user, customer_user, gift_card, permission_manage_users,
    permission_manage_gift_card, perms, allowed,
):
    mapping = {"users": permission_manage_users, "gift_cards": permission_manage_gift_card}
    staff_user.user_permissions.add(*[mapping[p] for p in perms])
    content = sc_client(user=staff_user).query(
        REDEEM,
        {"code": gift_card.code, "customer": graphene.Node.to_global_id("User", customer_user.pk)},
    )
    if allowed:
        result = payload(content)
        assert result["errors"] == []
        assert Account.objects.get(user=customer_user).balance == Decimal("10.00")
        assert Entry.objects.get().actor_type == "staff"
    else:
        assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
        assert not Entry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_customers_racing_for_one_card_one_wins_nothing_duplicated(
    store_credit_plugin, gift_card, customer_user, staff_user
):
    barrier = threading.Barrier(2)
    outcomes = []

    def redeem(user):
        from django.db import connections

        connections["replica"] = connections["default"]
        try:
            barrier.wait()
            redeem_gift_card(
                code=gift_card.code, customer=user, actor=Actor.for_user(user),
                settings=StoreCreditSettings(),
            )
            outcomes.append("ok")
        except StoreCreditError as exc:
            outcomes.append(exc.code.value)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(u,)) for u in (customer_user, staff_user)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["invalid_gift_card", "ok"]
    assert Entry.objects.filter(kind="gift_card").count() == 1
    assert sum(a.balance for a in Account.objects.all()) == Decimal("10.00")
    assert GiftCard.objects.get(pk=gift_card.pk).current_balance_amount == 0
    assert ledger_verify().ok


def test_saleor_gift_card_updated_fires_after_commit(shopper, gift_card, webhook_app):
    from saleor.core.models import EventPayload
    from saleor.webhook.event_types import WebhookEventAsyncType
    from saleor.webhook.models import Webhook, WebhookEvent

    hook = Webhook.objects.create(name="gc", app=webhook_app, target_url="https://crm.example.com")
    WebhookEvent.objects.create(webhook=hook, event_type=WebhookEventAsyncType.GIFT_CARD_UPDATED)

    payload(shopper.query(REDEEM, {"code": gift_card.code}))

    payloads = [p.get_payload() for p in EventPayload.objects.all()]
    assert any(graphene.Node.to_global_id("GiftCard", gift_card.pk) in p for p in payloads)


def _guesser(email):
    return User.objects.create(email=email, is_active=True)


def _redeem_from(sc_client, user, code, *, address, forwarded_for=None):
    """One conversion through the plugin's API from a given client address."""
    client = sc_client(user=user)
    extra = {"REMOTE_ADDR": address}
    if forwarded_for:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    response = client.post_graphql(REDEEM, {"code": code}, **extra)
    return payload(response.json())


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_guesses_never_pass_the_per_customer_limit(
    store_credit_plugin, customer_user
):
    # given 16 wrong guesses by one customer at the same moment, limit 5
    limit, tries = 5, 16
    barrier = threading.Barrier(tries)
    outcomes = []

    def guess(index):
        from django.db import connections

        connections["replica"] = connections["default"]
        try:
            barrier.wait()
            redeem_gift_card(
                code=f"wrongguess{index:04d}", customer=customer_user,
                actor=Actor.for_user(customer_user),
                settings=StoreCreditSettings(gift_card_attempts_per_hour=limit),
            )
            outcomes.append("ok")
        except StoreCreditError as exc:
            outcomes.append(exc.code.value)
        finally:
            connection.close()

    # when (real threads, one database connection each)
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # then only `limit` of them reached the card lookup; the rest were refused first
    assert len(outcomes) == tries
    assert outcomes.count("invalid_gift_card") == limit, outcomes
    assert outcomes.count("too_many_attempts") == tries - limit, outcomes
    assert GiftCardRedeemAttempt.objects.filter(user=customer_user).count() == limit


@pytest.mark.parametrize(
    "store_credit_config", [{"gift_card_redeem_attempts_per_address_per_hour": "3"}]
)
def test_failed_attempts_are_limited_per_client_address_across_accounts(
    sc_client, gift_card, store_credit_config
):
    # given three fresh accounts guessing from one address behind a proxy (Saleor's
    # rule: the first valid X-Forwarded-For address is the client)
    for index in range(3):
        result = _redeem_from(sc_client, _guesser(f"sock{index}@example.com"),
                              f"guess{index:08d}", address="10.0.0.1",
                              forwarded_for="203.0.113.7")
        assert result["errors"][0]["code"] == "INVALID_GIFT_CARD"

    # when a fourth new account tries the right code from the same address
    blocked = _redeem_from(sc_client, _guesser("sock3@example.com"), gift_card.code,
                           address="10.0.0.1", forwarded_for="203.0.113.7")

    # then it is refused before the lookup and the card is untouched
    assert blocked["errors"] == [{
        "field": "code", "code": "TOO_MANY_ATTEMPTS",
        "message": "Too many gift card attempts. Try again later.",
    }]
    gift_card.refresh_from_db()
    assert gift_card.current_balance_amount == Decimal("10")
    assert not Entry.objects.exists()

    # a customer at another address (same proxy) is not affected
    other = _redeem_from(sc_client, _guesser("honest@example.com"), gift_card.code,
                         address="10.0.0.1", forwarded_for="198.51.100.9")
    assert other["errors"] == []
    assert GiftCardRedeemAttempt.objects.filter(client_address="203.0.113.7").count() == 3


@pytest.mark.parametrize(
    "store_credit_config", [{"gift_card_redeem_attempts_overall_per_hour": "4"}]
)
def test_failed_attempts_are_limited_overall_across_accounts_and_addresses(
    sc_client, gift_card, store_credit_config
):
    # given four accounts guessing from four addresses
    for index in range(4):
        result = _redeem_from(sc_client, _guesser(f"bot{index}@example.com"),
                              f"guess{index:08d}", address=f"192.0.2.{index + 1}")
        assert result["errors"][0]["code"] == "INVALID_GIFT_CARD"

    # when yet another account at yet another address tries the right code
    blocked = _redeem_from(sc_client, _guesser("bot4@example.com"), gift_card.code,
                           address="192.0.2.99")

    # then
    assert blocked["errors"][0]["code"] == "TOO_MANY_ATTEMPTS"
    gift_card.refresh_from_db()
    assert gift_card.current_balance_amount == Decimal("10")
    assert not Entry.objects.exists()


@pytest.mark.parametrize("store_credit_config", [{"max_balance_per_account": "15"}])
def test_a_real_card_over_the_maximum_balance_answers_like_an_unknown_code(
    shopper, gift_card, customer_user, store_credit_config
):
    # given a customer whose balance has room for 5 more, and a real card of 10
    from .test_checkout import fund

    fund(customer_user, "10.00")

    # when the real code and a made-up one are tried
    real = payload(shopper.query(REDEEM, {"code": gift_card.code}))
    fake = payload(shopper.query(REDEEM, {"code": "madeupcode1234"}))

    # then both answers are identical (no existence oracle) and nothing changed
    assert real["errors"] == fake["errors"] == [
        {"field": "code", "code": "INVALID_GIFT_CARD", "message": INVALID_CODE_MESSAGE}
    ]
    assert real["entry"] is None
    gift_card.refresh_from_db()
    assert gift_card.current_balance_amount == Decimal("10")
    assert Account.objects.get(user=customer_user).balance == Decimal("10.00")
    assert Entry.objects.count() == 1
