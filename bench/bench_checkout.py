"""2. Checkout paid by store credit (through the plugin endpoint and through Saleor's
   own `transactionInitialize`) vs Saleor's built-in gift card gateway and vs the plain
   path of a payment app (`transactionCreate`, then `checkoutComplete`).
3. Idle overhead: the plugin installed but unused vs not installed.

Figures are the API process's: Celery tasks, which Saleor's test settings run inline,
are counted apart (a worker runs them in a deployment; `helpers.measure`)."""

import os
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

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
IDLE_ROUNDS = int(os.environ.get("BENCH_IDLE_ROUNDS", "15"))
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
    assert "errors" not in data, data.get("errors")
    assert data["data"][name]["errors"] == [], data
    return data


TRANSACTION_CREATE = """mutation ($id: ID!, $transaction: TransactionCreateInput!) {
  transactionCreate(id: $id, transaction: $transaction) { errors { field code message } } }"""


def bench_checkout_store_credit_vs_gift_card(
    store_credit_plugin, checkout_ready_to_complete, checkout_delivery, customer_user,
    user_api_client, app_api_client, permission_manage_payments, report,
):
    """The same checkout paid four ways, alternated round by round: store credit through
    the plugin endpoint, store credit through Saleor's `transactionInitialize`, Saleor's
    gift card gateway, and the plain path a payment app takes (`transactionCreate` by an
    app with HANDLE_PAYMENTS, then `checkoutComplete`)."""
    from saleor.app.models import App
    from saleor.warehouse.models import Stock

    from saleor_store_credit.checkout import GATEWAY_ID

    Stock.objects.filter(
        product_variant=checkout_ready_to_complete.lines.first().variant
    ).update(quantity=1_000_000)
    account = get_or_create_account(user=customer_user, currency="USD")
    credit(account=account, amount="100000", kind="adjustment", actor=Actor.system())
    shopper = StoreCreditClient(user=customer_user, api_path=STORE_CREDIT_API)
    # the companion App, as installed from the manifest: its identifier is the gateway id
    App.objects.create(name="Store credit", identifier=GATEWAY_ID, is_active=True)
    app_api_client.app.permissions.add(permission_manage_payments)
    timings: dict[str, list] = {}
    cpu_times: dict[str, list] = {}
    queries: dict[str, list] = {}
    cards = iter(range(10_000))

    worker: dict[str, list] = {}  # queries of Celery tasks the request enqueued
    worker_tasks: dict[str, set] = {}

    def step(key, label, fn, name, record):
        tasks, cpu = {}, {}
        t, q, r = measure(fn, label=f"{label} ({key})" if not record else None,
                          worker=tasks, cpu=cpu)
        _ok(r, name)
        if record:
            timings.setdefault(key, []).append(t)
            cpu_times.setdefault(key, []).append(cpu["seconds"])
            queries.setdefault(key, []).append(q)
            worker.setdefault(key, []).append(tasks.get("queries", 0))
            worker_tasks.setdefault(key, set()).update(tasks.get("tasks", []))

    def complete(checkout, prefix, record):
        step(f"{prefix}_complete", "checkoutComplete", lambda: user_api_client.post_graphql(
            COMPLETE, {"id": gid("Checkout", checkout.pk)}), "checkoutComplete", record)

    def fresh():
        # the storefront has just shown the totals: prices are fresh
        checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
        return checkout, _total(checkout)

    def store_credit(record):
        checkout, _ = fresh()
        step("sc_apply", "checkoutStoreCreditApply", lambda: shopper.post_graphql(
            APPLY, {"id": gid("Checkout", checkout.pk)}), "checkoutStoreCreditApply", record)
        complete(checkout, "sc", record)

    def native(record):
        # store credit through Saleor's own transactionInitialize (issue 18)
        checkout, _ = fresh()
        step("native_apply", "transactionInitialize", lambda: user_api_client.post_graphql(
            GIFT_INIT, {"id": gid("Checkout", checkout.pk), "gateway": {"id": GATEWAY_ID}}),
            "transactionInitialize", record)
        item = checkout.payment_transactions.get()
        assert item.authorized_value > 0, [e.message for e in item.events.all()]
        complete(checkout, "native", record)

    def gift_card(record):
        checkout, total = fresh()
        card = GiftCard.objects.create(
            code=f"BENCH{next(cards):04d}XYZ", currency="USD",
            initial_balance_amount=Decimal("100000"), current_balance_amount=Decimal("100000"),
        )
        step("gc_apply", "transactionInitialize", lambda: user_api_client.post_graphql(
            GIFT_INIT, {"id": gid("Checkout", checkout.pk), "amount": str(total),
                        "gateway": {"id": GIFT_CARD_PAYMENT_GATEWAY_ID,
                                    "data": {"code": card.code}}}),
            "transactionInitialize", record)
        gift = checkout.payment_transactions.get()
        assert gift.authorized_value == total, [e.message for e in gift.events.all()]
        complete(checkout, "gc", record)

    def plain(record):
        # Saleor's plain path: a payment app reports an authorization, the shopper completes
        checkout, total = fresh()
        step("plain_apply", "transactionCreate", lambda: app_api_client.post_graphql(
            TRANSACTION_CREATE, {"id": gid("Checkout", checkout.pk), "transaction": {
                "name": "Card", "pspReference": f"psp-{next(cards)}",
                "availableActions": ["CHARGE", "CANCEL"],
                "amountAuthorized": {"amount": str(total), "currency": "USD"}}}),
            "transactionCreate", record)
        checkout.refresh_from_db()
        assert checkout.authorize_status == "full", checkout.authorize_status
        complete(checkout, "plain", record)

    paths = [store_credit, native, gift_card, plain]
    for path in paths:  # warm-up (printed by call site with BENCH_PROFILE=1)
        path(record=False)
    for round_no in range(ROUNDS):
        # rotate the order so drift on a shared box hits every path alike
        shift = round_no % len(paths)
        for path in paths[shift:] + paths[:shift]:
            path(record=True)

    def row(section, ours, theirs, their_name, query_target, ratio_target=""):
        report(section, f"store credit / {their_name} queries",
               f"{median(queries[ours])} / {median(queries[theirs])}")
        report(section, f"query difference (credit - {their_name})",
               median(queries[ours]) - median(queries[theirs]), "", query_target)
        report(section, f"median latency ratio credit/{their_name}",
               round(median(timings[ours]) / median(timings[theirs]), 3), "", ratio_target)
        report(section, f"median API process CPU time ratio credit/{their_name}",
               round(median(cpu_times[ours]) / median(cpu_times[theirs]), 3))

    row("checkout apply", "sc_apply", "gc_apply", "gift card", "<= 0")
    row("checkoutComplete paid by credit", "sc_complete", "plain_complete", "plain",
        "<= 10", "<= 1.05")
    row("checkoutComplete paid by credit", "sc_complete", "gc_complete", "gift card",
        "<= 0")
    row("native transactionInitialize", "native_apply", "gc_apply", "gift card", "<= 0")
    row("checkoutComplete after native", "native_complete", "plain_complete", "plain",
        "<= 10", "<= 1.05")
    row("checkoutComplete after native", "native_complete", "gc_complete", "gift card",
        "<= 0")
    report("plain app transaction", "transactionCreate queries",
           median(queries["plain_apply"]))
    for key, what in [("sc_complete", "checkoutComplete paid by credit"),
                      ("native_complete", "checkoutComplete after native"),
                      ("gc_complete", "checkoutComplete paid by gift card"),
                      ("plain_complete", "checkoutComplete, plain")]:
        names = ", ".join(sorted(name.rsplit(".", 1)[-1] for name in worker_tasks[key]))
        report("Celery worker after " + what, f"queries ({names or 'no task'})",
               median(worker[key]))


QUERIES = {
    "checkoutCreate": """mutation ($input: CheckoutCreateInput!) { checkoutCreate(input: $input) {
        checkout { id } errors { code message } } }""",
    "checkoutLinesAdd": """mutation ($id: ID!, $lines: [CheckoutLineInput!]!) {
        checkoutLinesAdd(id: $id, lines: $lines) { errors { code message } } }""",
}


def _paid_by_card(checkout, transaction_item_generator, transaction_events_generator,
                  event=TransactionEventType.CHARGE_SUCCESS):
    from django.utils import timezone

    card = transaction_item_generator(checkout_id=checkout.pk)
    transaction_events_generator(
        transaction=card, psp_references=["card"], types=[event],
        amounts=[_total(checkout)],
    )
    recalculate_transaction_amounts(card)
    checkout.price_expiration = timezone.now()
    checkout.save(update_fields=["price_expiration"])


def _cpu_measure(fn):
    """`measure` plus the CPU seconds the test process spent on the request: the API
    process's own work, PostgreSQL's excluded, a second view beside the wall time."""
    cpu = {}
    t, q, r = measure(fn, cpu=cpu)
    return t, q, r, cpu["seconds"]


def _idle_round(user_api_client, variant, checkout_ready_to_complete, checkout_delivery,
                customer_user, transaction_item_generator, transaction_events_generator):
    channel = checkout_ready_to_complete.channel.slug
    results = {}
    t, q, r, cpu = _cpu_measure(lambda: user_api_client.post_graphql(QUERIES["checkoutCreate"], {
        "input": {"channel": channel, "email": customer_user.email,
                  "lines": [{"variantId": gid("ProductVariant", variant.pk), "quantity": 1}]}}))
    _ok(r, "checkoutCreate")
    results["checkoutCreate"] = (t, q, cpu)
    checkout_id = r.json()["data"]["checkoutCreate"]["checkout"]["id"]
    t, q, r, cpu = _cpu_measure(lambda: user_api_client.post_graphql(QUERIES["checkoutLinesAdd"], {
        "id": checkout_id, "lines": [{"variantId": gid("ProductVariant", variant.pk), "quantity": 1}]}))
    _ok(r, "checkoutLinesAdd")
    results["checkoutLinesAdd"] = (t, q, cpu)
    for operation, event in [
            ("checkoutComplete", TransactionEventType.CHARGE_SUCCESS),
            ("checkoutComplete, card only authorized",
             TransactionEventType.AUTHORIZATION_SUCCESS)]:
        checkout = clone_checkout(checkout_ready_to_complete, checkout_delivery, customer_user)
        _paid_by_card(checkout, transaction_item_generator, transaction_events_generator,
                      event)
        t, q, r, cpu = _cpu_measure(lambda: user_api_client.post_graphql(
            COMPLETE, {"id": gid("Checkout", checkout.pk)}))
        _ok(r, "checkoutComplete")
        results[operation] = (t, q, cpu)
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

    for operation in ("checkoutCreate", "checkoutLinesAdd", "checkoutComplete",
                      "checkoutComplete, card only authorized"):
        with_q = median([s[operation][1] for s in samples["installed"]])
        without_q = median([s[operation][1] for s in samples["absent"]])
        with_t = median([s[operation][0] for s in samples["installed"]])
        without_t = median([s[operation][0] for s in samples["absent"]])
        section = f"idle overhead {operation}"
        report(section, "extra queries", with_q - without_q, "", "0")
        report(section, "latency ratio installed/absent", round(with_t / without_t, 3), "", "<= 1.03")
        with_c = median([s[operation][2] for s in samples["installed"]])
        without_c = median([s[operation][2] for s in samples["absent"]])
        report(section, "API process CPU time ratio installed/absent",
               round(with_c / without_c, 3))


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
