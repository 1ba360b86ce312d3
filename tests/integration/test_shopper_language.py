"""Issue 16.3: shopper-facing error messages in the customer's language (English,
Dutch, Swedish), by Saleor's `User.language_code`, or Accept-Language when nobody is
logged in. Codes stay the same; staff and apps are answered in English."""

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from .support import gid  # noqa: E402
from .test_checkout import APPLY  # noqa: E402
from .test_giftcards import REDEEM  # noqa: E402


def _apply_error(sc_client, user, checkout):
    result = sc_client(user=user).query(APPLY, {"id": gid("Checkout", checkout.pk)})
    (error,) = result["data"]["checkoutStoreCreditApply"]["errors"]
    return error


@pytest.mark.parametrize(("language_code", "message"), [
    ("nl", "Je hebt niet genoeg tegoed."),
    ("nl-BE", "Je hebt niet genoeg tegoed."),
    ("sv-SE", "Du har inte tillräckligt med tillgodohavande."),
    ("en", "You have no store credit to apply."),
    ("de", "You have no store credit to apply."),  # not one of ours: English
])
def test_apply_without_credit_answers_in_the_customers_language(
    sc_client, shopper_checkout, customer_user, language_code, message
):
    customer_user.language_code = language_code
    customer_user.save(update_fields=["language_code"])

    error = _apply_error(sc_client, customer_user, shopper_checkout)

    assert error == {"field": "amount", "code": "INSUFFICIENT_FUNDS", "message": message}


def test_a_wrong_gift_card_code_is_answered_in_swedish(sc_client, customer_user):
    customer_user.language_code = "sv"
    customer_user.save(update_fields=["language_code"])

    result = sc_client(user=customer_user).query(REDEEM, {"code": "NOPE-NOPE-NOPE"})

    (error,) = result["data"]["giftCardRedeemToStoreCredit"]["errors"]
    assert error["code"] == "INVALID_GIFT_CARD"
    assert error["message"] == (
        "Den här presentkortskoden kan inte omvandlas till tillgodohavande.")


def test_staff_are_answered_in_english_whatever_their_language(
    sc_client, staff_user, customer_user, permission_manage_users,
    permission_manage_gift_card,
):
    from saleor_store_credit.giftcards import INVALID_CODE_MESSAGE

    staff_user.language_code = "nl"
    staff_user.save(update_fields=["language_code"])
    staff_user.user_permissions.add(permission_manage_users, permission_manage_gift_card)
    from saleor.account.models import Group

    group = Group.objects.create(name="all channels", restricted_access_to_channels=False)
    group.user_set.add(staff_user)

    result = sc_client(user=staff_user).query(
        REDEEM, {"code": "NOPE-NOPE-NOPE", "customer": gid("User", customer_user.pk)})

    (error,) = result["data"]["giftCardRedeemToStoreCredit"]["errors"]
    assert error["message"] == INVALID_CODE_MESSAGE


@pytest.mark.parametrize(("accept", "message"), [
    ("nl-NL,nl;q=0.9,en;q=0.8", "Log in om je tegoed te gebruiken."),
    ("sv", "Logga in för att använda ditt tillgodohavande."),
    ("fr-FR,en;q=0.5", "Log in to use store credit."),
    ("", "Log in to use store credit."),
])
def test_anonymous_shoppers_are_asked_to_log_in_in_their_browsers_language(
    sc_client, shopper_checkout, accept, message
):
    client = sc_client()
    response = client.post_graphql(
        APPLY, {"id": gid("Checkout", shopper_checkout.pk)}, HTTP_ACCEPT_LANGUAGE=accept)

    content = response.json()
    assert content["errors"][0]["message"] == message
    assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"


def test_transaction_initialize_refusals_reach_the_shopper_in_dutch(
    store_credit_plugin, shopper_checkout, customer_user, user_api_client
):
    # given the companion App (the gateway id) and a Dutch customer without credit
    from saleor.app.models import App

    from saleor_store_credit.checkout import GATEWAY_ID

    from .test_native_checkout import initialize

    App.objects.create(name="Store credit", identifier=GATEWAY_ID, is_active=True)
    customer_user.language_code = "nl"
    customer_user.save(update_fields=["language_code"])

    # when the storefront asks Saleor's transactionInitialize for store credit
    result = initialize(user_api_client, shopper_checkout)

    # then the refusal in data.errors is Dutch, its code the same
    assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
    (error,) = result["data"]["errors"]
    assert error["code"] == "INSUFFICIENT_FUNDS"
    assert error["message"] == "Je hebt niet genoeg tegoed."
