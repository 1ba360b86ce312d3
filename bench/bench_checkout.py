"""2. Checkout paid by store credit vs by Saleor's built-in gift card gateway.
3. Idle overhead: the plugin installed but unused vs not installed."""

from decimal import Decimal

import graphene
from django.utils import timezone

from saleor.giftcard.const import GIFT_CARD_PAYMENT_GATEWAY_ID
from saleor.giftcard.models import GiftCard
from saleor.payment import TransactionEventType
from saleor.payment.transaction_item_calculations import recalculate_transaction_amounts
from saleor.plugins.models import PluginConfiguration

from saleor_store_credit.ledger import Actor, credit, get_or_create_account
from saleor_store_credit.plugin import PLUGIN_ID
from tests.integration.fixtures import STORE_CREDIT_API, StoreCreditClient

from .helpers import clone_checkout, measure, median

ROUNDS = 7
IDLE_ROUNDS = 15
APPLY = """mutation ($id: ID!) { checkoutStoreCreditApply(checkoutId: $id) {
  errors { code message } } }"""
GIFT_INIT = """mutation ($id: ID!, $amount: PositiveDecimal, $gateway: PaymentGatewayToInitialize!) {
  transactionInitialize(id: $id, amount: $amount, paymentGateway: $gateway) {
    errors { code message } } }"""
COMPLETE = """mutation ($id: ID) { checkoutComplete(id: $id) {
  order { id } errors { code message } } }"""


def gid(kind, pk):
    return graphene.Node.to_global_id(kind, pk)


def _total(checkout):
    """Fresh checkout total (recalculates and stores prices, as a storefront's
    checkout query does before the shopper pays)."""
    checkout.price_expiration = timezone.now()
    checkout.save(update_fields=["price_expiration"])
    from saleor_store_credit.checkout import left_to_pay
    from saleor.plugins.manager import get_plugins_manager

    return left_to_pay(checkout, get_plugins_manager(allow_replica=False))


def _ok(response, name):
    data = response.json()
    assert "errors" not in data, data
    assert data["data"][name]["errors"] == [], data
    return data


def bench_checkout_store_credit_vs_gift_card(
    store_credit_plugin, checkout_ready_to_complete, checkout_delivery, customer_user,
    user_api_client, report,
):
    from saleor.warehouse.models import Stock

    Stock.objects.filter(
        product_variant=checkout_ready_to_complete.lines.first().variant
    ).update(quantity=1_000_000)
    account = get_or_create_account(user=customer_user, currency="USD")
    credit(account=account, amount="100000", kind="adjustment", actor=Actor.system())
    shopper = StoreCreditClient(user=customer_user, api_path=STORE_CREDIT_API)
    # the companion App, as installed from the manifest: its identifier is the gateway id
    from saleor.app.models import App

    from saleor_store_credit.checkout import GATEWAY_ID

    App.objects.create(name="Store credit", identifier=GATEWAY_ID, is_active=True)
    timings = {"sc_apply": [], "sc_complete": [], "gc_apply": [], "gc_complete": [],
               "native_apply": [], "native_complete": []}
    queries = {key: [] for key in timings}

    for round_no in range(ROUNDS):
        # store credit (the storefront has just shown the totals: prices are fresh)
        checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
        _total(checkout)
        t, q, r = measure(lambda: shopper.post_graphql(APPLY, {"id": gid("Checkout", checkout.pk)}))
        _ok(r, "checkoutStoreCreditApply")
        timings["sc_apply"].append(t), queries["sc_apply"].append(q)
        t, q, r = measure(lambda: user_api_client.post_graphql(COMPLETE, {"id": gid("Checkout", checkout.pk)}))
        _ok(r, "checkoutComplete")
        timings["sc_complete"].append(t), queries["sc_complete"].append(q)

        # store credit through Saleor's own transactionInitialize (issue 18)
        checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
        _total(checkout)
        t, q, r = measure(lambda: user_api_client.post_graphql(
            GIFT_INIT, {"id": gid("Checkout", checkout.pk),
                        "gateway": {"id": GATEWAY_ID}}))
        _ok(r, "transactionInitialize")
        native = checkout.payment_transactions.get()
        assert native.authorized_value > 0, [e.message for e in native.events.all()]
        timings["native_apply"].append(t), queries["native_apply"].append(q)
        t, q, r = measure(lambda: user_api_client.post_graphql(COMPLETE, {"id": gid("Checkout", checkout.pk)}))
        _ok(r, "checkoutComplete")
        timings["native_complete"].append(t), queries["native_complete"].append(q)

        # Saleor's gift card gateway, same checkout contents
        checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
        total = _total(checkout)
        card = GiftCard.objects.create(
            code=f"BENCH{round_no:04d}XYZ", currency="USD",
            initial_balance_amount=Decimal("100000"), current_balance_amount=Decimal("100000"),
        )
        t, q, r = measure(lambda: user_api_client.post_graphql(
            GIFT_INIT, {"id": gid("Checkout", checkout.pk), "amount": str(total),
                        "gateway": {"id": GIFT_CARD_PAYMENT_GATEWAY_ID,
                                    "data": {"code": card.code}}}))
        _ok(r, "transactionInitialize")
        gift = checkout.payment_transactions.get()
        assert gift.authorized_value == total, [e.message for e in gift.events.all()]
        timings["gc_apply"].append(t), queries["gc_apply"].append(q)
        t, q, r = measure(lambda: user_api_client.post_graphql(COMPLETE, {"id": gid("Checkout", checkout.pk)}))
        _ok(r, "checkoutComplete")
        timings["gc_complete"].append(t), queries["gc_complete"].append(q)

    for step, ours, theirs in [("apply", "sc_apply", "gc_apply"),
                               ("checkoutComplete", "sc_complete", "gc_complete")]:
        section = f"checkout {step}"
        report(section, "store credit queries", median(queries[ours]))
        report(section, "gift card queries", median(queries[theirs]))
        report(section, "query difference (credit - gift card)",
               median(queries[ours]) - median(queries[theirs]), "", "<= 0")
        report(section, "median latency ratio credit/gift card",
               round(median(timings[ours]) / median(timings[theirs]), 3))
    for step, ours, theirs in [("transactionInitialize", "native_apply", "gc_apply"),
                               ("checkoutComplete after it", "native_complete",
                                "gc_complete")]:
        section = f"native {step}"
        report(section, "store credit queries", median(queries[ours]))
        report(section, "gift card queries", median(queries[theirs]))
        report(section, "query difference (credit - gift card)",
               median(queries[ours]) - median(queries[theirs]), "", "<= 0")
        report(section, "median latency ratio credit/gift card",
               round(median(timings[ours]) / median(timings[theirs]), 3))


QUERIES = {
    "checkoutCreate": """mutation ($input: CheckoutCreateInput!) { checkoutCreate(input: $input) {
        checkout { id } errors { code message } } }""",
    "checkoutLinesAdd": """mutation ($id: ID!, $lines: [CheckoutLineInput!]!) {
        checkoutLinesAdd(id: $id, lines: $lines) { errors { code message } } }""",
}


def _paid_by_card(checkout, transaction_item_generator, transaction_events_generator):
    from django.utils import timezone

    card = transaction_item_generator(checkout_id=checkout.pk)
    transaction_events_generator(
        transaction=card, psp_references=["card"],
        types=[TransactionEventType.CHARGE_SUCCESS], amounts=[_total(checkout)],
    )
    recalculate_transaction_amounts(card)
    checkout.price_expiration = timezone.now()
    checkout.save(update_fields=["price_expiration"])


def _idle_round(user_api_client, variant, checkout_ready_to_complete, checkout_delivery,
                customer_user, transaction_item_generator, transaction_events_generator):
    channel = checkout_ready_to_complete.channel.slug
    results = {}
    t, q, r = measure(lambda: user_api_client.post_graphql(QUERIES["checkoutCreate"], {
        "input": {"channel": channel, "email": customer_user.email,
                  "lines": [{"variantId": gid("ProductVariant", variant.pk), "quantity": 1}]}}))
    _ok(r, "checkoutCreate")
    results["checkoutCreate"] = (t, q)
    checkout_id = r.json()["data"]["checkoutCreate"]["checkout"]["id"]
    t, q, r = measure(lambda: user_api_client.post_graphql(QUERIES["checkoutLinesAdd"], {
        "id": checkout_id, "lines": [{"variantId": gid("ProductVariant", variant.pk), "quantity": 1}]}))
    _ok(r, "checkoutLinesAdd")
    results["checkoutLinesAdd"] = (t, q)
    checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
    _paid_by_card(checkout, transaction_item_generator, transaction_events_generator)
    t, q, r = measure(lambda: user_api_client.post_graphql(COMPLETE, {"id": gid("Checkout", checkout.pk)}))
    _ok(r, "checkoutComplete")
    results["checkoutComplete"] = (t, q)
    return results


def bench_idle_overhead(
    settings, store_credit_plugin, checkout_ready_to_complete, checkout_delivery,
    customer_user, user_api_client, transaction_item_generator,
    transaction_events_generator, report,
):
    from saleor.warehouse.models import Stock

    variant = checkout_ready_to_complete.lines.first().variant
    Stock.objects.filter(product_variant=variant).update(quantity=1_000_000)
    with_plugin = list(settings.PLUGINS)
    without_plugin = [p for p in with_plugin if "saleor_store_credit" not in p]
    samples = {"installed": [], "absent": []}
    args = (user_api_client, variant, checkout_ready_to_complete, checkout_delivery,
            customer_user, transaction_item_generator, transaction_events_generator)
    def absent():
        settings.PLUGINS = without_plugin
        PluginConfiguration.objects.filter(identifier=PLUGIN_ID).update(active=False)
        samples["absent"].append(_idle_round(*args))

    def installed():
        settings.PLUGINS = with_plugin
        PluginConfiguration.objects.filter(identifier=PLUGIN_ID).update(active=True)
        samples["installed"].append(_idle_round(*args))

    _idle_round(*args)  # warm-up
    for round_no in range(IDLE_ROUNDS):
        # alternate which side goes first so drift on a shared box hits both alike
        for side in (absent, installed) if round_no % 2 else (installed, absent):
            side()

    for operation in ("checkoutCreate", "checkoutLinesAdd", "checkoutComplete"):
        with_q = median([s[operation][1] for s in samples["installed"]])
        without_q = median([s[operation][1] for s in samples["absent"]])
        with_t = median([s[operation][0] for s in samples["installed"]])
        without_t = median([s[operation][0] for s in samples["absent"]])
        section = f"idle overhead {operation}"
        report(section, "extra queries", with_q - without_q, "", "<= 1")
        report(section, "latency ratio installed/absent", round(with_t / without_t, 3), "", "<= 1.03")


def bench_credit_check_cost(
    store_credit_plugin, checkout_ready_to_complete, checkout_delivery, customer_user,
    user_api_client, report,
):
    """4. What credit management adds to checkoutComplete on a pay-later channel: the
    customer's advisory lock, three rules (limit, overdue, order value) over their open
    orders, the checkout reservation, and the re-check in order_created."""
    from saleor.warehouse.models import Stock

    from saleor_store_credit import conf
    from saleor_store_credit.credit.models import BlockingRule, CreditLimit

    Stock.objects.filter(
        product_variant=checkout_ready_to_complete.lines.first().variant
    ).update(quantity=1_000_000)
    channel = checkout_ready_to_complete.channel
    channel.allow_unpaid_orders = True
    channel.save(update_fields=["allow_unpaid_orders"])
    CreditLimit.objects.create(user=customer_user, currency="USD", amount=Decimal("10000000"))
    BlockingRule.objects.create(name="limit", rule_type="limit_exceeded", action="hold")
    BlockingRule.objects.create(name="overdue", rule_type="overdue_amount", action="hold",
                                currency="USD", threshold=Decimal("1000000"), days=30)
    BlockingRule.objects.create(name="big", rule_type="order_value", action="warn",
                                currency="USD", threshold=Decimal("1000000"))

    def configure(channels: str):
        store_credit_plugin.configuration = [
            item for item in store_credit_plugin.configuration
            if item["name"] != conf.CREDIT_CHANNELS
        ] + [{"name": conf.CREDIT_CHANNELS, "value": channels}]
        store_credit_plugin.save()

    samples = {"on": [], "off": []}

    def complete(side):
        configure("*" if side == "on" else "")
        checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
        _total(checkout)
        t, q, r = measure(lambda: user_api_client.post_graphql(
            COMPLETE, {"id": gid("Checkout", checkout.pk)}))
        _ok(r, "checkoutComplete")
        samples[side].append((t, q))

    complete("on"), complete("off")  # warm-up
    samples = {"on": [], "off": []}
    for round_no in range(IDLE_ROUNDS):
        for side in ("on", "off") if round_no % 2 else ("off", "on"):
            complete(side)
    section = "credit check checkoutComplete"
    report(section, "extra queries (on - off)",
           median([q for _, q in samples["on"]]) - median([q for _, q in samples["off"]]))
    report(section, "latency ratio on/off",
           round(median([t for t, _ in samples["on"]]) / median([t for t, _ in samples["off"]]), 3))
