"""An attacker, over HTTP: what they may not do is refused with a code and changes
nothing; no input reaches a 500."""

from decimal import Decimal

import pytest

from .conftest import grant, native, store_credit_transaction
from .test_storefront import APPLY

ADJUST = """mutation ($id: ID!, $amount: Decimal!) { storeCreditAdjust(customerId: $id,
  amount: $amount, currency: "USD", reason: "free money") {
  account { balance { amount } } errors { field code message } } }"""


def _codes(result, name):
    """The payload's error codes; Saleor's own refusal of a permission is a top-level
    GraphQL error with `extensions.exception.code` PermissionDenied (as for its API)."""
    payload = (result.get("data") or {}).get(name)
    if payload is None:
        codes = [e.get("extensions", {}).get("exception", {}).get("code")
                 for e in result.get("errors") or []]
        assert codes, result
        return ["PERMISSION_DENIED" if c == "PermissionDenied" else c for c in codes]
    return [e["code"] for e in payload["errors"]]


def test_only_staff_with_manage_users_can_adjust_a_balance(saleor, people):
    # given a customer, and callers who may not give credit
    victim, other = people.shopper(), people.shopper()
    nostaff = saleor.token("nostaff-perms@example.com", saleor.password)
    callers = {"anonymous": None, "the customer": victim.token, "another customer": other.token,
               "staff without permissions": nostaff, "an app without permissions":
               saleor.nosy_token, "a card app (HANDLE_PAYMENTS only)": saleor.card_token}
    for who, token in callers.items():
        # when they try to add 1000.00
        result = saleor.store_credit(ADJUST, {"id": victim.id, "amount": "1000.00"},
                                     token=token)
        # then they are refused with PERMISSION_DENIED and nothing changes
        assert _codes(result, "storeCreditAdjust") == ["PERMISSION_DENIED"], (who, result)
    assert victim.account()["balance"] == 0


def test_a_customer_cannot_use_or_read_credit_on_someone_elses_checkout(saleor, people):
    # given a victim with credit and a checkout, and an attacker with credit of their own
    victim, attacker = people.shopper(), people.shopper()
    checkout_id, _total = victim.checkout()
    grant(saleor, victim, "5.00")
    grant(saleor, attacker, "5.00")
    # when the attacker applies credit to the victim's checkout, on both entry points
    plugin = saleor.store_credit(APPLY, {"id": checkout_id, "amount": "1.00"},
                                 token=attacker.token)
    through_saleor = native(saleor, attacker, checkout_id)
    peek = saleor.store_credit(
        "query ($id: ID!) { checkoutStoreCredit(checkoutId: $id) { applied { amount } } }",
        {"id": checkout_id}, token=attacker.token)
    # then each is refused and no credit of anyone moved
    assert _codes(plugin, "checkoutStoreCreditApply") in (["NOT_FOUND"], ["PERMISSION_DENIED"])
    assert through_saleor["errors"] or (through_saleor["data"] or {}).get("errors"), \
        through_saleor
    assert not (peek.get("data") or {}).get("checkoutStoreCredit"), peek
    assert victim.account()["available"] == attacker.account()["available"] == Decimal("5.00")
    assert store_credit_transaction(saleor, checkout_id=checkout_id) is None


def test_a_guest_is_offered_no_store_credit_and_cannot_apply_any(saleor, people):
    # given a guest checkout
    shopper = people.shopper()
    created = saleor.saleor(
        """mutation ($variant: ID!) { checkoutCreate(input: {channel: "default-channel",
           email: "guest@example.com", lines: [{variantId: $variant, quantity: 1}]}) {
           checkout { id } errors { message } } }""",
        {"variant": _a_variant(saleor)})["data"]["checkoutCreate"]
    checkout_id = created["checkout"]["id"]
    # when the gateways are listed and an apply is tried without a token
    listed = saleor.saleor(
        "mutation ($id: ID!) { paymentGatewayInitialize(id: $id) { gatewayConfigs { id } "
        "errors { code } } }", {"id": checkout_id})["data"]["paymentGatewayInitialize"]
    result = saleor.store_credit(APPLY, {"id": checkout_id, "amount": "1.00"})
    # then store credit is not offered, and the apply is refused
    assert "saleor-store-credit" not in [g["id"] for g in listed["gatewayConfigs"]]
    assert _codes(result, "checkoutStoreCreditApply") == ["PERMISSION_DENIED"]
    assert shopper.account()["balance"] == 0


def _a_variant(saleor) -> str:
    data = saleor.saleor(
        """{ products(first: 20, channel: "default-channel") { edges { node {
           productType { isShippingRequired } variants { id quantityAvailable } } } } }""",
        token=saleor.staff_token)["data"]["products"]["edges"]
    return next(v["id"] for e in data for v in e["node"]["variants"] or []
                if (v["quantityAvailable"] or 0) > 1)


BAD_AMOUNTS = ["-1.00", "0", "NaN", "Infinity", "1e309", "0.001", "abc", "",
               "99999999999999999999999.00", "1,50", " 1.00; DROP TABLE x"]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_bad_amounts_are_refused_with_a_code_and_change_nothing(saleor, people, amount):
    # given a shopper with 3.00 and a checkout
    shopper = _shared_shopper(saleor, people)
    before = shopper.account()
    checkout_id = _shared_checkout(shopper)
    # when staff adjust by it, and the shopper applies it on both entry points
    adjust = None if amount == "-1.00" else saleor.store_credit(
        ADJUST, {"id": shopper.id, "amount": amount}, token=saleor.staff_token)
    plugin = saleor.store_credit(APPLY, {"id": checkout_id, "amount": amount},
                                 token=shopper.token)
    through_saleor = native(saleor, shopper, checkout_id, {"amount": amount})
    # then each answers 200 with an error (a code, or GraphQL's own scalar error)
    # (a negative staff adjustment is a debit, not a bad amount)
    for result in ((plugin,) if amount == "-1.00" else (adjust, plugin)):
        assert "http_status" not in result, result
        errors = result.get("errors") or (result["data"] and next(
            iter(result["data"].values()))["errors"])
        assert errors, (amount, result)
    if amount != "0":  # on Saleor's API, "0" is the documented Remove
        assert through_saleor["errors"] or through_saleor["data"].get("errors"), \
            through_saleor
    # and nothing changed
    assert shopper.account() == before
    tx = store_credit_transaction(saleor, checkout_id=checkout_id)
    assert tx is None or tx["authorized"] == 0


_shared = {}


def _shared_shopper(saleor, people):
    if "shopper" not in _shared:
        _shared["shopper"] = people.shopper()
        grant(saleor, _shared["shopper"], "3.00")
    return _shared["shopper"]


def _shared_checkout(shopper):
    key = ("checkout", shopper.email)
    if key not in _shared:
        _shared[key] = shopper.checkout()[0]
    return _shared[key]


def test_an_oversized_request_is_refused_before_it_is_read(saleor):
    # given a body of 3 MB
    import urllib.error
    import urllib.request

    body = b'{"query": "' + b"a" * (3 * 1024 * 1024) + b'"}'
    request = urllib.request.Request(
        f"{saleor.url}/plugins/global/saleor-store-credit/graphql/", data=body,
        headers={"Content-Type": "application/json"})
    # when it is posted to the plugin endpoint
    try:
        urllib.request.urlopen(request, timeout=30)
        status = 200
    except urllib.error.HTTPError as exc:
        status = exc.code
    # then the plugin answers 413
    assert status == 413


def test_guessing_gift_card_codes_is_rate_limited(saleor, people):
    # given a shopper trying codes they do not have
    shopper = people.shopper()
    codes = []
    for n in range(8):
        result = saleor.store_credit(
            "mutation ($c: String!) { giftCardRedeemToStoreCredit(code: $c) { errors { code } } }",
            {"c": f"GUESS-{n:04d}-XXXX"}, token=shopper.token)
        codes.append(_codes(result, "giftCardRedeemToStoreCredit")[0])
    # then after a few wrong tries every further try is refused as too many
    assert codes[0] == "INVALID_GIFT_CARD"
    assert codes[-1] == "TOO_MANY_ATTEMPTS", codes
    assert shopper.account()["balance"] == 0


def test_a_storefront_cannot_reach_staff_data(saleor, people):
    # given a customer's token
    shopper = people.shopper()
    # when it asks for staff-only reports and logs
    probes = {
        "storeCreditLiabilityReport": """{ storeCreditLiabilityReport(
            start: "2020-01-01T00:00:00Z", end: "2030-01-01T00:00:00Z") { __typename } }""",
        "storeCreditEmailDeliveries": "{ storeCreditEmailDeliveries { recipient } }",
        "storeCreditWebhookDeliveries": "{ storeCreditWebhookDeliveries { id } }",
        "orderCreditHolds": "{ orderCreditHolds { id } }",
    }
    for name, query in probes.items():
        result = saleor.store_credit(query, token=shopper.token)
        # then it gets no data and a permission error
        assert "http_status" not in result, result
        assert not (result.get("data") or {}).get(name), (name, result)
        assert result.get("errors"), (name, result)
