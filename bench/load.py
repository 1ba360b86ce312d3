"""`make bench-load`: checkout under concurrent load, over HTTP, against a real Saleor.

Starts Saleor with the plugin (uvicorn with several worker processes, a Celery worker),
then N concurrent shoppers (threads, each its own HTTP connection) complete checkouts:

- **store credit**: `checkoutStoreCreditApply` (the whole total) + `checkoutComplete`;
- **plain**: an app's `transactionCreate` charging the total (HANDLE_PAYMENTS) +
  `checkoutComplete` — Saleor's own cost of a paid checkout;
- **B2B**: `checkoutComplete` on account (unpaid) with credit checks on (a limit per
  shopper and a LIMIT_EXCEEDED rule), in a channel that allows unpaid orders.

Modes alternate round by round (A B C, then C B A, …) so drift hits all alike. Checkouts
are built before each phase; only the payment call and `checkoutComplete` are timed.
Afterwards: every balance is exact (granted − what each completed order took) and
`ledger_verify()` is clean. Prints p50/p95 per call, throughput and errors, with the
target (p95 store credit ÷ plain ≤ 1.10, 0 errors, 0 drift) beside them, and writes
`artifacts/bench-load.json`. Bounded by --shoppers, --rounds and --max-seconds;
loopback only. Correctness is asserted; speed never is.
"""

import argparse
import json
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from saleor_server import DEMO_PASSWORD, SETUP_USERS, Saleor  # noqa: E402

CHANNEL = "default-channel"
GRANT = Decimal("100000.00")

SETUP = """
from saleor.account.models import User
from saleor.app.models import App
from saleor.channel.models import Channel
from saleor.permission.models import Permission
from saleor.product.models import Product
from saleor.site.models import SiteSettings
for n in range(%(shoppers)d):
    u, _ = User.objects.get_or_create(email=f"load{n}@example.com")
    u.is_active = True
    u.set_password(%(password)r)
    u.save()
SiteSettings.objects.update(refund_reason_reference_type=None)
Channel.objects.filter(slug=%(channel)r).update(allow_unpaid_orders=True)
app, _ = App.objects.get_or_create(name="Load card PSP", defaults={"is_active": True})
app.permissions.set(Permission.objects.filter(codename="handle_payments"))
app.tokens.all().delete()
_, token = app.tokens.create(name="load")
print("CARD_TOKEN=" + token)
print("PRODUCTS=" + str(Product.objects.count()))
"""
VERIFY = """
from saleor_store_credit.ledger import ledger_verify
report = ledger_verify()
print("LEDGER_PROBLEMS=" + str(len(report.account_drift) + len(report.hold_drift)))
print(report.summary())
"""


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.times = {}  # (mode, call) -> [seconds]
        self.errors = {}  # mode -> [message]
        self.spent = {}  # shopper email -> Decimal taken by store-credit orders
        self.completed = {}  # mode -> count
        self.orders = {}  # mode -> [(order id, total)]

    def time(self, mode, call, seconds):
        with self.lock:
            self.times.setdefault((mode, call), []).append(seconds)

    def error(self, mode, message):
        with self.lock:
            self.errors.setdefault(mode, []).append(str(message)[:300])

    def done(self, mode, email, amount, order_id):
        with self.lock:
            self.completed[mode] = self.completed.get(mode, 0) + 1
            self.orders.setdefault(mode, []).append((order_id, amount))
            if mode == "store credit":
                self.spent[email] = self.spent.get(email, Decimal(0)) + amount


def timed(recorder, mode, call, fn):
    started = time.perf_counter()
    result = fn()
    recorder.time(mode, call, time.perf_counter() - started)
    return result


APPLY = """mutation ($id: ID!) { checkoutStoreCreditApply(checkoutId: $id) {
  checkoutStoreCredit { applied { amount } leftToPay { amount } } errors { code message } } }"""
PAY = """mutation ($id: ID!, $amount: PositiveDecimal!) { transactionCreate(id: $id,
  transaction: {name: "Card (load PSP)", pspReference: "load",
  amountCharged: {amount: $amount, currency: "USD"}}) { errors { code message } } }"""
COMPLETE = """mutation ($id: ID!) { checkoutComplete(id: $id) { order { id status chargeStatus
  authorizeStatus total { gross { amount } } } errors { code message } } }"""
ORDER = """query ($id: ID!) { order(id: $id) { chargeStatus authorizeStatus
  total { gross { amount } } transactions { name authorizedAmount { amount }
  chargedAmount { amount } refundedAmount { amount } } } }"""


def one_checkout(server, shopper, mode, checkout_id, total, recorder):
    email, token = shopper
    try:
        if mode == "store credit":
            result = timed(recorder, mode, "pay", lambda: server.store_credit(
                APPLY, {"id": checkout_id}, token=token))
            payload = (result.get("data") or {}).get("checkoutStoreCreditApply")
            if not payload or payload["errors"]:
                return recorder.error(mode, result)
        elif mode == "plain":
            result = timed(recorder, mode, "pay", lambda: server.saleor(
                PAY, {"id": checkout_id, "amount": str(total)}, token=server.card_token))
            payload = (result.get("data") or {}).get("transactionCreate")
            if not payload or payload["errors"]:
                return recorder.error(mode, result)
        result = timed(recorder, mode, "checkoutComplete", lambda: server.saleor(
            COMPLETE, {"id": checkout_id}, token=token))
        payload = (result.get("data") or {}).get("checkoutComplete")
        if not payload or payload["errors"] or not payload["order"]:
            return recorder.error(mode, result)
        order = payload["order"]
        # plain: charged by the app before completion; store credit: authorized in
        # full (the hold), charged by the worker's capture task after the commit
        # (`wait_charged` checks that it was)
        if mode == "plain" and order["chargeStatus"] != "FULL":
            return recorder.error(mode, f"not charged in full: {order}")
        if mode == "store credit" and "FULL" not in (order["chargeStatus"],
                                                     order["authorizeStatus"]):
            return recorder.error(mode, f"not authorized in full: {order}")
        recorder.done(mode, email, Decimal(str(order["total"]["gross"]["amount"])),
                      order["id"])
    except Exception as exc:  # a transport error counts as an error, the run goes on
        recorder.error(mode, repr(exc))


def run_phase(server, shoppers, mode, recorder):
    checkouts = []
    for email, token in shoppers:
        checkout, _name, total = server.ready_checkout(token, email, CHANNEL, quantity=1)
        checkouts.append((checkout["id"], total))
    barrier = threading.Barrier(len(shoppers))

    def shopper_thread(i):
        barrier.wait()
        one_checkout(server, shoppers[i], mode, *checkouts[i], recorder)

    started = time.perf_counter()
    threads = [threading.Thread(target=shopper_thread, args=(i,)) for i in range(len(shoppers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def configure(server, shoppers, staff):
    plugin = server.saleor(
        """mutation ($input: PluginUpdateInput!) { pluginUpdate(id: "saleor-store-credit",
           input: $input) { errors { field message } } }""",
        {"input": {"active": True, "configuration": [
            {"name": "credit_management_channels", "value": "*"}]}}, token=staff)
    assert plugin["data"]["pluginUpdate"]["errors"] == [], plugin
    rules = server.store_credit("{ creditBlockingRules { ruleType } }",
                                token=staff)["data"]["creditBlockingRules"]
    if not any(r["ruleType"] == "LIMIT_EXCEEDED" for r in rules):
        saved = server.store_credit(
            """mutation { creditBlockingRuleSave(input: {name: "Over the limit",
               ruleType: LIMIT_EXCEEDED, action: BLOCK}) { errors { message } } }""",
            token=staff)
        assert saved["data"]["creditBlockingRuleSave"]["errors"] == [], saved
    granted = {}
    for email, token in shoppers:
        me = server.saleor("{ me { id } }", token=token)["data"]["me"]["id"]
        result = server.store_credit(
            """mutation ($id: ID!, $key: String) { storeCreditAdjust(customerId: $id,
               amount: "100000.00", currency: "USD", reason: "load test",
               idempotencyKey: $key) { account { balance { amount } } errors { code } } }""",
            {"id": me, "key": f"load-{email}-{time.time_ns()}"}, token=staff)
        payload = result["data"]["storeCreditAdjust"]
        assert payload["errors"] == [], result
        granted[email] = Decimal(str(payload["account"]["balance"]["amount"]))
        limit = server.store_credit(
            """mutation ($id: ID!) { creditLimitSet(input: {customerId: $id, currency: "USD",
               amount: "1000000.00", reason: "load test"}) { errors { code message } } }""",
            {"id": me}, token=staff)
        assert limit["data"]["creditLimitSet"]["errors"] == [], limit
    return granted


def wait_charged(server, staff, orders, recorder, seconds=300):
    """Every store-credit order ends charged in full by the worker, and Saleor's view
    agrees with the ledger's: its store-credit transaction charged the order total,
    nothing left authorized, nothing refunded. Returns the seconds it waited."""
    started = time.perf_counter()
    waiting = dict(orders)
    last = {}
    while waiting and time.perf_counter() - started < seconds:
        for order_id, total in list(waiting.items()):
            order = server.saleor(ORDER, {"id": order_id}, token=staff)["data"]["order"]
            last[order_id] = order
            # saleor_tx.PAYMENT_METHOD_NAME (this script runs outside Saleor's Python)
            ours = [t for t in order["transactions"] if t["name"] == "Store credit"]
            if order["chargeStatus"] == "FULL" and len(ours) == 1 and (
                Decimal(str(ours[0]["chargedAmount"]["amount"])) == total
                and Decimal(str(ours[0]["authorizedAmount"]["amount"])) == 0
                and Decimal(str(ours[0]["refundedAmount"]["amount"])) == 0
            ):
                del waiting[order_id]
        if waiting:
            time.sleep(1)
    for order_id in waiting:
        recorder.error("store credit", f"not charged by the worker: {last.get(order_id)}")
    return time.perf_counter() - started


def balances(server, shoppers):
    out = {}
    for email, token in shoppers:
        accounts = server.store_credit(
            "{ me { storeCredit { accounts { currency balance { amount } held { amount } } } } }",
            token=token)["data"]["me"]["storeCredit"]["accounts"]
        usd = [a for a in accounts if a["currency"] == "USD"]
        out[email] = (Decimal(str(usd[0]["balance"]["amount"])),
                      Decimal(str(usd[0]["held"]["amount"])))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--api-workers", type=int, default=4)
    parser.add_argument("--max-seconds", type=int, default=900)
    parser.add_argument("--database", default="saleor_store_credit_load")
    parser.add_argument("--port", type=int, default=8787)
    args = parser.parse_args()
    deadline = time.time() + args.max_seconds

    server = Saleor(database=args.database, port=args.port)
    server.log_dir = ROOT / "artifacts" / "bench-load"
    server.env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/10"
    # the shoppers log in once; a run outlasts Saleor's default 5-minute access token
    server.env["JWT_TTL_ACCESS"] = "2 hours"
    server.install_plugin()
    server.ensure_database()
    server.migrate()
    values = {"shoppers": args.shoppers, "password": DEMO_PASSWORD, "channel": CHANNEL}
    out = server.shell(SETUP_USERS + SETUP % values)
    if out.split("PRODUCTS=")[1].split()[0] == "0":
        server.step("empty database: loading Saleor's sample catalogue (populatedb)")
        server.manage("populatedb", "--withoutimages", "--skipsequencereset")
        out = server.shell(SETUP % values)
    server.card_token = out.split("CARD_TOKEN=")[1].split()[0]
    server.start_api(workers=args.api_workers)
    server.start_worker(concurrency=2)
    recorder = Recorder()
    walls = {}
    try:
        staff = server.token("staff@example.com", DEMO_PASSWORD)
        shoppers = [(f"load{n}@example.com", server.token(f"load{n}@example.com", DEMO_PASSWORD))
                    for n in range(args.shoppers)]
        server.step(f"granting credit and limits to {len(shoppers)} shoppers")
        granted = configure(server, shoppers, staff)
        modes = ["store credit", "plain", "b2b"]
        charged_after = 0.0
        server.step("warming up (one checkout per mode, not counted)")
        warm = Recorder()
        for mode in modes:
            run_phase(server, shoppers[:2], mode, warm)
        wait_charged(server, staff, warm.orders.get("store credit", []), warm)
        for mode, messages in warm.errors.items():  # a failure counts, warm or not
            recorder.errors.setdefault(mode, []).extend(messages)
        for email, amount in warm.spent.items():
            granted[email] -= amount
        for r in range(args.rounds):
            order = modes if r % 2 == 0 else modes[::-1]
            for mode in order:
                if time.time() > deadline:
                    server.step("time is up: stopping early")
                    break
                server.step(f"round {r + 1}/{args.rounds}: {len(shoppers)} concurrent "
                            f"shoppers, {mode}")
                placed = len(recorder.orders.get(mode, []))
                walls.setdefault(mode, []).append(run_phase(server, shoppers, mode, recorder))
                if mode == "store credit":
                    # the next phase starts once the worker has charged these orders
                    # (their captures are this phase's cost, not the next one's)
                    charged_after = max(charged_after, wait_charged(
                        server, staff, recorder.orders[mode][placed:], recorder))
        after = balances(server, shoppers)
        drift = {email: (granted[email] - recorder.spent.get(email, Decimal(0)), after[email])
                 for email in granted
                 if after[email] != (granted[email] - recorder.spent.get(email, Decimal(0)),
                                     Decimal(0))}
        verify = server.shell(VERIFY)
        problems = int(verify.split("LEDGER_PROBLEMS=")[1].split()[0])
    finally:
        server.stop()
    return report(args, recorder, walls, drift, problems, charged_after)


def report(args, recorder, walls, drift, problems, charged_after) -> int:
    rows = []

    def stat(mode, call):
        values = recorder.times.get((mode, call), [])
        return (percentile(values, 50), percentile(values, 95), len(values))

    print()
    print(f"bench-load: {args.shoppers} concurrent shoppers, {args.rounds} rounds, "
          f"{args.api_workers} API workers")
    print(f"{'mode':<14}{'call':<18}{'p50 ms':>9}{'p95 ms':>9}{'n':>6}{'orders/s':>10}"
          f"{'errors':>8}")
    for mode in ("store credit", "plain", "b2b"):
        throughput = (recorder.completed.get(mode, 0) / sum(walls[mode])) if walls.get(mode) \
            else 0
        for call in ("pay", "checkoutComplete"):
            p50, p95, n = stat(mode, call)
            if not n:
                continue
            errors = len(recorder.errors.get(mode, []))
            print(f"{mode:<14}{call:<18}{p50 * 1000:>9.0f}{p95 * 1000:>9.0f}{n:>6}"
                  f"{throughput:>10.1f}{errors:>8}")
            rows.append({"mode": mode, "call": call, "p50_ms": round(p50 * 1000, 1),
                         "p95_ms": round(p95 * 1000, 1), "n": n,
                         "orders_per_s": round(throughput, 2), "errors": errors})

    def ratio(mode, call="checkoutComplete"):
        a, b = stat(mode, call)[1], stat("plain", call)[1]
        return a / b if a and b else None

    checks = []
    sc, b2b = ratio("store credit"), ratio("b2b")
    pay_sc = stat("store credit", "pay")[1]
    pay_plain = stat("plain", "pay")[1]
    both = None
    if pay_sc and pay_plain and sc:
        both = (pay_sc + stat("store credit", "checkoutComplete")[1]) / (
            pay_plain + stat("plain", "checkoutComplete")[1])
    checks.append(("p95 checkoutComplete, store credit / plain", sc, "<= 1.10"))
    checks.append(("p95 pay + complete, store credit / plain", both, "<= 1.10"))
    checks.append(("p95 checkoutComplete, B2B (credit checks) / plain", b2b, "(reported)"))
    print()
    for name, value, target in checks:
        shown = f"{value:.2f}" if value is not None else "n/a"
        print(f"{name:<52}{shown:>8}   target {target}")
    errors = sum(len(v) for v in recorder.errors.values())
    print(f"{'errors':<52}{errors:>8}   target 0")
    print(f"{'balances off (granted - spent != balance)':<52}{len(drift):>8}   target 0")
    print(f"{'ledger_verify() problems':<52}{problems:>8}   target 0")
    print(f"{'store-credit orders charged by the worker, s after phase':<52}"
          f"{charged_after:>8.1f}   (reported)")
    for mode, messages in recorder.errors.items():
        for message in messages[:3]:
            print(f"   error ({mode}): {message}")
    for email, (expected, got) in list(drift.items())[:5]:
        print(f"   drift {email}: expected {expected}, got {got}")
    out = ROOT / "artifacts" / "bench-load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "shoppers": args.shoppers, "rounds": args.rounds, "api_workers": args.api_workers,
        "rows": rows, "ratios": {name: value for name, value, _ in checks},
        "errors": errors, "drift": len(drift), "ledger_problems": problems,
        "store_credit_charged_seconds_after_phase": round(charged_after, 1),
    }, indent=2))
    print(f"\nwritten: {out}")
    # correctness is asserted, speed never is
    return 0 if errors == 0 and not drift and problems == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
