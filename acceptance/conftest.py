"""`make acceptance`: the README's promises against a real Saleor, over HTTP only.

One session starts, on loopback:
- an SMTP server (aiosmtpd) that keeps every message it receives;
- a webhook receiver that keeps every request (and can be told to fail);
- Saleor (the one SALEOR_PYTHON/SALEOR_SRC point at) with the plugin: its API under
  uvicorn with several worker processes, a Celery worker (prefork, two processes) and
  `celery beat` with Celery's default scheduler (as `celery worker -B` runs it), the
  plugin's periodic tasks every few seconds (STORE_CREDIT_PERIODIC_EVERY_SECONDS).

Setting up the world uses Saleor's `manage.py` (migrate, sample catalogue, a few users
with passwords, a card-payment app). Everything a scenario does goes over HTTP as a
storefront, staff, an app or an attacker would: the plugin's configuration
(`pluginUpdate`), the companion App (`appInstall`, installed by the Celery worker),
payments, refunds, e-mails received by the SMTP server, webhooks received and verified.
"""

import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

ARTIFACTS = ROOT / "artifacts" / "acceptance"
CHANNEL = "default-channel"
PLUGIN = "saleor-store-credit"
DATABASE = os.environ.get("SC_ACCEPTANCE_DATABASE", "saleor_store_credit_acceptance")
API_PORT = int(os.environ.get("SC_ACCEPTANCE_PORT", "8777"))
API_WORKERS = int(os.environ.get("SC_ACCEPTANCE_API_WORKERS", "3"))
# A Redis database of its own: a worker of another run must not take our tasks.
BROKER = os.environ.get("SC_ACCEPTANCE_BROKER", "redis://127.0.0.1:6379/9")
PERIODIC_SECONDS = 4
WEBHOOK_SECRET = "acceptance-webhook-secret"
SENDER = "Example Shop <shop@example.com>"
LANGUAGES = {"en": "EN", "nl": "NL", "sv": "SV"}
SHOPPERS_PER_LANGUAGE = 30
# Shoppers are new in every run (their e-mails carry the run's id), so balances and
# orders of an earlier run against the same database never leak into this one.
# `scripts/acceptance` sets it once for its two processes (prepare, then pytest).
RUN = os.environ.setdefault("SC_ACCEPTANCE_RUN", str(int(time.time())))

# Users of the acceptance world (its own database only).
SETUP = """
from saleor.account.models import User
from saleor.app.models import App
from saleor.channel.models import Channel
from saleor.permission.models import Permission
from saleor.product.models import Product
from saleor.site.models import SiteSettings

def user(email, language="en", staff=False):
    u, _ = User.objects.get_or_create(email=email)
    u.is_active, u.is_staff, u.language_code = True, staff, language
    u.first_name = email.split("@")[0].split("-")[0].capitalize()
    u.set_password(%(password)r)
    u.save()
    return u

for language in %(languages)r:
    for n in range(%(per_language)d):
        user(f"shopper{n}-{language}-%(run)s@example.com", language)
user("nostaff-perms@example.com", staff=True)  # staff, in no permission group
# gift-card guesses of an earlier run (same loopback address) are not this run's
from saleor_store_credit.models import GiftCardRedeemAttempt
GiftCardRedeemAttempt.objects.all().delete()

SiteSettings.objects.update(refund_reason_reference_type=None)
Channel.objects.filter(slug=%(channel)r).update(
    automatically_confirm_all_new_orders=False, allow_unpaid_orders=True)
for name, perms in [("Acceptance card PSP", ["handle_payments"]), ("Acceptance nosy app", [])]:
    app, _ = App.objects.get_or_create(name=name, defaults={"is_active": True})
    app.permissions.set(Permission.objects.filter(codename__in=perms))
    app.tokens.all().delete()
    _, token = app.tokens.create(name="acceptance")
    print(("CARD" if perms else "NOSY") + "_TOKEN=" + token)
App.objects.filter(identifier=%(plugin)r).delete()  # appInstall below, every run
print("PRODUCTS=" + str(Product.objects.count()))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout: float, every: float = 0.5, what: str = "condition"):
    """Poll until `predicate()` returns something truthy; fail with `what` otherwise."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def money(value) -> Decimal:
    return Decimal(str(value))


def db_id(global_id: str) -> str:
    """The database id inside a GraphQL global id ("Order:<uuid>" in base64)."""
    import base64

    return base64.b64decode(global_id).decode().split(":", 1)[1]


# --- the SMTP server ---------------------------------------------------------------


class Mailbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler API
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]

    def wait(self, address: str, *, containing: str, timeout: float = 60):
        def found():
            for message in self.to(address):
                if containing in str(message["Subject"]) + text_of(message):
                    return message
            return None
        return wait_for(found, timeout=timeout,
                        what=f"an e-mail to {address} containing {containing!r}")


def text_of(message) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


@pytest.fixture(scope="session")
def mailbox():
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


# --- the webhook receiver ------------------------------------------------------------


class WebhookReceiver:
    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.failing = []  # [predicate(payload), how many more to answer with 500]

    def fail(self, predicate, times: int = 1) -> None:
        with self.lock:
            self.failing.append([predicate, times])

    def record(self, headers, body: bytes) -> int:
        event = headers.get("Store-Credit-Event", "")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        with self.lock:
            self.requests.append({"headers": dict(headers), "body": body, "at": time.time(),
                                  "event": event})
            for rule in self.failing:
                if rule[1] > 0 and payload is not None and rule[0](payload):
                    rule[1] -= 1
                    return 500
        return 200

    def of(self, event: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["event"] == event]

    def wait(self, event: str, match=lambda payload: True, *, count: int = 1,
             timeout: float = 60) -> list[dict]:
        def found():
            hits = [r for r in self.of(event) if match(json.loads(r["body"]))]
            return hits if len(hits) >= count else None
        return wait_for(found, timeout=timeout, what=f"{count} webhook(s) {event}")


def signature_is_valid(request: dict, secret: str = WEBHOOK_SECRET) -> bool:
    """The README's verification recipe ("Outgoing webhooks"), as a receiver writes it."""
    header = request["headers"].get("Store-Credit-Signature", "")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not {"t", "v1"} <= parts.keys():
        return False
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + request["body"],
                        hashlib.sha256).hexdigest()
    return abs(time.time() - int(parts["t"])) < 300 and hmac.compare_digest(
        expected, parts["v1"])


@pytest.fixture(scope="session")
def webhooks():
    receiver = WebhookReceiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.record(self.headers, body)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield receiver
    server.shutdown()


# --- Saleor ---------------------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    reasons = []
    if not os.environ.get("SALEOR_PYTHON"):
        reasons.append("SALEOR_PYTHON is not set (a Python that imports saleor)")
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        reasons.append("aiosmtpd is not installed (pip install -e '.[test]')")
    if reasons:
        skip = pytest.mark.skip(reason="acceptance needs a real Saleor: " + "; ".join(reasons))
        for item in items:
            item.add_marker(skip)


def prepare():
    """Migrate and seed the acceptance database; returns the server (not started).
    `scripts/acceptance` runs this first, outside the run's time bound: on a new
    database Saleor's ~1,400 migrations and its sample catalogue take minutes."""
    from saleor_server import DEMO_PASSWORD, SETUP_USERS, Saleor

    server = Saleor(database=DATABASE, port=API_PORT)
    server.log_dir = ARTIFACTS
    server.env.update({
        "CELERY_BROKER_URL": BROKER,
        "STORE_CREDIT_PERIODIC_EVERY_SECONDS": str(PERIODIC_SECONDS),
        "EMAIL_URL": "",  # the plugin's own SMTP settings are what we configure
        "SEND_USAGE_TELEMETRY": "False",  # loopback only
    })
    server.install_plugin()
    server.ensure_database()
    server.migrate()
    values = {"password": DEMO_PASSWORD, "languages": list(LANGUAGES),
              "per_language": SHOPPERS_PER_LANGUAGE, "channel": CHANNEL, "plugin": PLUGIN,
              "run": RUN}
    out = server.shell(SETUP_USERS + SETUP % values)
    if out.split("PRODUCTS=")[1].split()[0] == "0":
        server.step("empty database: loading Saleor's sample catalogue (populatedb)")
        server.manage("populatedb", "--withoutimages", "--skipsequencereset")
        out = server.shell(SETUP % values)
    server.card_token = out.split("CARD_TOKEN=")[1].split()[0]
    server.nosy_token = out.split("NOSY_TOKEN=")[1].split()[0]
    server.password = DEMO_PASSWORD
    return server


@pytest.fixture(scope="session")
def saleor(mailbox, webhooks):
    subprocess.run(["redis-cli", "-u", BROKER, "flushdb"], capture_output=True)
    server = prepare()
    server.start_api(workers=API_WORKERS)
    server.start_worker(concurrency=2)
    server.start_beat()
    try:
        server.login_staff("staff@example.com", server.password)  # renewed before expiry
        _configure(server, mailbox, webhooks)
        yield server
    finally:
        server.stop()


def plugin_update(server, values: dict, *, token=None) -> dict:
    config = [{"name": k, "value": v} for k, v in values.items()]
    return server.saleor(
        """mutation ($input: PluginUpdateInput!) { pluginUpdate(id: "saleor-store-credit",
           input: $input) { plugin { id } errors { field code message } } }""",
        {"input": {"active": True, "configuration": config}},
        token=token or server.staff_token,
    )


def _configure(server, mailbox, webhooks) -> None:
    """What a merchant does in the Dashboard: configure and activate the plugin, then
    install the companion App from its manifest (Extensions → Install from manifest)."""
    server.step("configuring the plugin over HTTP (pluginUpdate)")
    result = plugin_update(server, {
        "credit_management_channels": "*",
        "smtp_host": "127.0.0.1", "smtp_port": str(mailbox.port), "email_sender": SENDER,
        "notify_balance_changed": "true", "notify_credit_memo": "true",
        "notify_order_holds": "true", "notify_payout_status": "true",
        "webhook_target_urls": webhooks.url, "webhook_secret": WEBHOOK_SECRET,
        "hold_lifetime_minutes": "1440",
    })
    assert result.get("data", {}).get("pluginUpdate", {}).get("errors") == [], result
    rules = server.store_credit("{ creditBlockingRules { ruleType } }",
                                token=server.staff_token)["data"]["creditBlockingRules"]
    if not any(r["ruleType"] == "ACCOUNT_ON_HOLD" for r in rules):
        saved = server.store_credit(
            """mutation { creditBlockingRuleSave(input: {name: "Accounts on hold",
               ruleType: ACCOUNT_ON_HOLD, action: HOLD}) { errors { message } } }""",
            token=server.staff_token,
        )
        assert saved["data"]["creditBlockingRuleSave"]["errors"] == [], saved
    server.step("installing the companion App over HTTP (appInstall; the worker installs it)")
    installed = server.saleor(
        """mutation ($input: AppInstallInput!) { appInstall(input: $input) {
           appInstallation { id status } errors { field code message } } }""",
        {"input": {"appName": "Store credit",
                   "manifestUrl": f"{server.url}/plugins/global/{PLUGIN}/app/manifest",
                   "activateAfterInstallation": True,
                   "permissions": ["MANAGE_USERS", "MANAGE_ORDERS", "HANDLE_PAYMENTS",
                                   "MANAGE_SETTINGS", "MANAGE_GIFT_CARD"]}},
        token=server.staff_token,
    )
    assert (installed.get("data") or {}).get("appInstall", {}).get("errors") == [], installed

    def app_ready():
        apps = server.saleor("{ apps(first: 50) { edges { node { identifier isActive } } } }",
                             token=server.staff_token)["data"]["apps"]["edges"]
        if any(e["node"]["identifier"] == PLUGIN and e["node"]["isActive"] for e in apps):
            return True
        failed = server.saleor("{ appsInstallations { status message } }",
                               token=server.staff_token)["data"]["appsInstallations"]
        assert not any(i["status"] == "FAILED" for i in failed), failed
        return False

    wait_for(app_ready, timeout=90, what="the companion App to be installed by the worker")


# --- the people ------------------------------------------------------------------------


class People:
    """Hands out shoppers nobody else in the run has used yet, per language."""

    def __init__(self, server):
        self.server = server
        self.used = {language: 0 for language in LANGUAGES}
        self.lock = threading.Lock()

    def shopper(self, language: str = "en") -> "Shopper":
        with self.lock:
            n = self.used[language]
            assert n < SHOPPERS_PER_LANGUAGE, "raise SHOPPERS_PER_LANGUAGE"
            self.used[language] += 1
        return Shopper(self.server, f"shopper{n}-{language}-{RUN}@example.com")


class Shopper:
    def __init__(self, server, email: str):
        self.server, self.email = server, email
        self.token = server.token(email, server.password)
        self.id = server.saleor("{ me { id } }", token=self.token)["data"]["me"]["id"]

    def account(self, currency: str = "USD") -> dict:
        data = self.server.store_credit(
            "{ me { storeCredit { accounts { currency balance { amount } held { amount }"
            " available { amount } } } } }", token=self.token)
        accounts = [a for a in data["data"]["me"]["storeCredit"]["accounts"]
                    if a["currency"] == currency]
        if not accounts:
            return {"balance": Decimal(0), "held": Decimal(0), "available": Decimal(0)}
        a = accounts[0]
        return {k: money(a[k]["amount"]) for k in ("balance", "held", "available")}

    def checkout(self, quantity: int = 1):
        checkout, _name, total = self.server.ready_checkout(
            self.token, self.email, CHANNEL, quantity=quantity)
        return checkout["id"], total


@pytest.fixture(scope="session")
def people(saleor):
    return People(saleor)


def grant(server, shopper: Shopper, amount, *, notify=False, expires_at=None,
          key=None) -> dict:
    """Staff adjusts a balance (storeCreditAdjust)."""
    result = server.store_credit(
        """mutation ($id: ID!, $amount: Decimal!, $notify: Boolean, $exp: DateTime,
           $key: String) { storeCreditAdjust(customerId: $id, amount: $amount,
           currency: "USD", reason: "Acceptance goodwill", notifyCustomer: $notify,
           expiresAt: $exp, idempotencyKey: $key) {
           account { balance { amount } } errors { field code message } } }""",
        {"id": shopper.id, "amount": str(amount), "notify": notify, "exp": expires_at,
         "key": key or f"acc-{time.time_ns()}"},
        token=server.staff_token,
    )
    assert "data" in result, result
    return result["data"]["storeCreditAdjust"]


def card_pays(server, checkout_id: str, amount) -> None:
    """The card-payment app charges `amount` on the checkout (transactionCreate)."""
    result = server.saleor(
        """mutation ($id: ID!, $amount: PositiveDecimal!) { transactionCreate(id: $id,
           transaction: {name: "Card (acceptance PSP)", pspReference: "card",
           amountCharged: {amount: $amount, currency: "USD"}}) {
           errors { field code message } } }""",
        {"id": checkout_id, "amount": str(amount)}, token=server.card_token,
    )
    assert result["data"]["transactionCreate"]["errors"] == [], result


ORDER = """query ($id: ID!) { order(id: $id) { id number status chargeStatus
  total { gross { amount } } } }"""


def complete(server, shopper: Shopper, checkout_id: str) -> dict:
    """`checkoutComplete`; when store credit is still only authorized on the order, waits
    for the worker that charges it right after the confirmation (README: "order
    confirmed … by a Celery worker right after the confirmation commits")."""
    result = server.saleor(
        """mutation ($id: ID!) { checkoutComplete(id: $id) { order { id number status
           chargeStatus total { gross { amount } } } errors { field code message } } }""",
        {"id": checkout_id}, token=shopper.token,
    )
    assert "data" in result, result
    payload = result["data"]["checkoutComplete"]
    order = payload.get("order")
    if order and order["status"] != "UNCONFIRMED":
        def charged():
            tx = store_credit_transaction(server, order_id=order["id"])
            return tx is None or tx["authorized"] == 0
        wait_for(charged, timeout=60, what="the worker to charge the order's store credit")
        payload = {**payload, "order": server.saleor(
            ORDER, {"id": order["id"]}, token=server.staff_token)["data"]["order"]}
    # what checkoutComplete itself answered (the order above is read again after)
    payload["answered_status"] = order["status"] if order else None
    return payload


def native(server, shopper: Shopper, checkout_id: str, data=None, token="shopper") -> dict:
    """`transactionInitialize` with the store-credit gateway on Saleor's /graphql/."""
    result = server.saleor(
        """mutation ($id: ID!, $data: JSON) { transactionInitialize(id: $id,
           paymentGateway: {id: "saleor-store-credit", data: $data}) {
           transaction { id authorizedAmount { amount } } data
           errors { field code message } } }""",
        {"id": checkout_id, "data": data},
        token=shopper.token if token == "shopper" else token,
    )
    assert "data" in result, result
    return result["data"]["transactionInitialize"]


def store_credit_transaction(server, *, order_id=None, checkout_id=None) -> dict | None:
    """Saleor's view: the store-credit transaction's amounts (staff token)."""
    fields = """transactions { id name authorizedAmount { amount } chargedAmount { amount }
                refundedAmount { amount } canceledAmount { amount } }"""
    if order_id:
        data = server.saleor(f"query ($id: ID!) {{ order(id: $id) {{ {fields} }} }}",
                             {"id": order_id}, token=server.staff_token)["data"]["order"]
    else:
        data = server.saleor(f"query ($id: ID!) {{ checkout(id: $id) {{ {fields} }} }}",
                             {"id": checkout_id}, token=server.staff_token)["data"]["checkout"]
    ours = [t for t in data["transactions"] if t["name"] == "Store credit"]
    if not ours:
        return None
    t = ours[-1]
    return {"id": t["id"], **{k: money(t[f"{k}Amount"]["amount"]) for k in
                              ("authorized", "charged", "refunded", "canceled")}}


@pytest.fixture(scope="session", autouse=True)
def timings():
    """Prints how long the run took (the README quotes it)."""
    started = time.time()
    yield
    print(f"\nacceptance: {time.time() - started:.0f} s in all")
