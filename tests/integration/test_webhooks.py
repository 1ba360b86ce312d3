"""Outgoing webhooks to a real HTTP receiver on 127.0.0.1, inside real Saleor."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

import graphene  # noqa: E402
from django.utils import timezone  # noqa: E402

from saleor_store_credit.models import WebhookDelivery  # noqa: E402
from saleor_store_credit.tasks import deliver_due_webhooks_task  # noqa: E402
from saleor_store_credit.webhooks.signing import verify  # noqa: E402

from .test_checkout import APPLY, fund, gid  # noqa: E402

SECRET = "whsec-test"
ADJUST = """
mutation ($id: ID!) { storeCreditAdjust(customerId: $id, amount: "12.50", currency: "USD",
  reason: "goodwill") { errors { code } } }
"""


class Receiver:
    """A real HTTP server; answers with the queued status codes, then 200."""

    def __init__(self):
        self.requests = []
        self.statuses = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self):
        return [json.loads(body)["event"] for _headers, body in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def store_credit_config(receiver):
    return {"webhook_target_urls": receiver.url, "webhook_secret": SECRET}


@pytest.fixture
def staff(sc_client, staff_user, permission_manage_users, permission_manage_settings,
          permission_manage_payments):
    staff_user.user_permissions.add(permission_manage_users, permission_manage_settings,
                                    permission_manage_payments)
    return sc_client(user=staff_user)


def test_balance_change_is_delivered_signed_after_commit(staff, customer_user, receiver):
    # when
    staff.query(ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})

    # then
    assert receiver.events() == ["store_credit.balance_changed"]
    headers, body = receiver.requests[0]
    assert verify(SECRET, body, headers["Store-Credit-Signature"])
    payload = json.loads(body)
    assert payload["data"]["delta"] == "12.50"
    assert payload["data"]["balance_after"] == "12.50"
    assert payload["data"]["reason"] == "goodwill"
    assert payload["data"]["origin"]["kind"] == "adjustment"
    assert headers["Store-Credit-Event"] == "store_credit.balance_changed"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


def test_failed_deliveries_are_retried_with_backoff_until_they_succeed(
    staff, customer_user, receiver
):
    receiver.statuses = [500, 503]

    staff.query(ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=20)

    # not due yet: nothing is sent
    assert deliver_due_webhooks_task.delay().get() == 0
    # due: retried, fails again, backs off longer
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    assert deliver_due_webhooks_task.delay().get() == 0
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.last_status_code == 503
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=50)
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    assert deliver_due_webhooks_task.delay().get() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    bodies = {body for _headers, body in receiver.requests}
    assert len(receiver.requests) == 3 and len(bodies) == 1  # the same event each time


def test_delivery_gives_up_after_the_last_attempt_and_staff_can_redeliver(
    staff, customer_user, receiver
):
    receiver.statuses = [500] * 6
    staff.query(ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})
    for _ in range(5):
        WebhookDelivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())
        deliver_due_webhooks_task.delay()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 6)

    log = staff.query(
        "{ storeCreditWebhookDeliveries(status: FAILED) { id event attempts lastError } }"
    )["data"]["storeCreditWebhookDeliveries"]
    assert log[0]["attempts"] == 6 and log[0]["lastError"] == "HTTP 500"
    again = staff.query(
        "mutation ($id: ID!) { storeCreditWebhookRedeliver(id: $id) { delivery { status } errors { code } } }",
        {"id": log[0]["id"]},
    )["data"]["storeCreditWebhookRedeliver"]
    assert again["delivery"]["status"] == "DELIVERED"


def test_nothing_is_sent_for_a_change_that_rolled_back(staff, customer_user, receiver):
    # a deduction beyond the balance fails: no event may exist for it
    content = staff.query(
        """mutation ($id: ID!) { storeCreditAdjust(customerId: $id, amount: "-5",
           currency: "USD", reason: "x") { errors { code } } }""",
        {"id": graphene.Node.to_global_id("User", customer_user.pk)},
    )
    assert content["data"]["storeCreditAdjust"]["errors"][0]["code"] == "INSUFFICIENT_FUNDS"
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_checkout_hold_events_are_delivered(
    sc_client, checkout_ready_to_complete, customer_user, receiver
):
    checkout = checkout_ready_to_complete
    checkout.user = customer_user
    checkout.save(update_fields=["user"])
    fund(customer_user, "50.00")
    receiver.requests.clear()
    shopper = sc_client(user=customer_user)

    shopper.query(APPLY, {"id": gid("Checkout", checkout.pk), "amount": "5.00"})
    shopper.query(
        "mutation ($id: ID!) { checkoutStoreCreditRemove(checkoutId: $id) { errors { code } } }",
        {"id": gid("Checkout", checkout.pk)},
    )

    assert receiver.events() == ["store_credit.hold_placed", "store_credit.hold_released"]
    placed = json.loads(receiver.requests[0][1])["data"]
    assert placed["amount"] == "5.00" and placed["status"] == "active"


def test_delivery_log_needs_manage_settings(sc_client, staff_user, permission_manage_users):
    staff_user.user_permissions.add(permission_manage_users)
    content = sc_client(user=staff_user).query("{ storeCreditWebhookDeliveries { id } }")
    assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"


# --- Saleor's HTTP client, its IP filter, redirects, signing secret, no row lock ---

PLUGIN_UPDATE = """
mutation ($id: ID!, $input: PluginUpdateInput!) {
  pluginUpdate(id: $id, input: $input) { errors { field code message } } }
"""


class RecordingServer:
    """A real HTTP server on `host` answering every request with `status` (and a
    Location header when given); records each request it gets."""

    def __init__(self, host="127.0.0.1", status=200, location=None, on_request=None):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if on_request:
                    on_request()
                outer.requests.append((self.command, dict(self.headers), body))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _private_address():
    """This machine's own non-loopback private address (Saleor's filter refuses it)."""
    import ipaddress
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # no packet is sent for UDP connect
            address = probe.getsockname()[0]
        except OSError:
            return None
    ip = ipaddress.ip_address(address)
    return address if ip.is_private and not ip.is_loopback else None


@pytest.fixture
def ip_filter(monkeypatch):
    """Switch Saleor's outgoing-request IP filter the way Saleor's own tests do
    (saleor/webhook/tests/test_webhook_ip_filtering.py): on its real HTTP client."""
    from saleor.core.http_client import HTTPClient

    def switch(*, enabled, allow_loopback=False):
        monkeypatch.setattr(HTTPClient.config, "ip_filter_enable", enabled)
        monkeypatch.setattr(HTTPClient.config, "ip_filter_allow_loopback_ips", allow_loopback)

    return switch


def test_with_saleors_ip_filter_on_a_loopback_target_is_refused_not_delivered(
    staff, customer_user, receiver, ip_filter
):
    # given Saleor's production default: private and loopback addresses refused
    ip_filter(enabled=True, allow_loopback=False)

    # when
    staff.query(ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})

    # then nothing reached the receiver, and the log says why (no retry: it cannot pass)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("Refused by Saleor's IP filter")
    assert "127.0.0.1" in delivery.last_error


def test_with_saleors_ip_filter_off_a_loopback_target_is_delivered(
    staff, customer_user, receiver, ip_filter
):
    ip_filter(enabled=False)

    staff.query(ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})

    assert receiver.events() == ["store_credit.balance_changed"]
    assert WebhookDelivery.objects.get().status == "delivered"


@pytest.fixture
def redirect_pair():
    """An allowed receiver (loopback) that redirects to this machine's private address."""
    private = _private_address()
    if private is None:
        pytest.skip("this machine has no private non-loopback IPv4 address")
    target = RecordingServer(host=private)
    redirector = RecordingServer(status=302, location=target.url)
    yield redirector, target
    redirector.close()
    target.close()


def test_a_redirect_from_an_allowed_to_a_filtered_address_is_not_followed(
    sc_client, staff_user, permission_manage_users, permission_manage_payments,
    customer_user, redirect_pair, ip_filter,
):
    # given the filter on with loopback allowed: the redirector is allowed, the
    # machine's private address it redirects to is not
    from saleor.plugins.models import PluginConfiguration

    from saleor_store_credit.plugin import PLUGIN_ID

    redirector, target = redirect_pair
    ip_filter(enabled=True, allow_loopback=True)
    staff_user.user_permissions.add(permission_manage_users, permission_manage_payments)
    client = sc_client(user=staff_user)
    row = PluginConfiguration.objects.get(identifier=PLUGIN_ID)
    row.configuration = [
        {**item, "value": {"webhook_target_urls": redirector.url,
                           "webhook_secret": SECRET}.get(item["name"], item["value"])}
        for item in row.configuration
    ]
    row.save()

    # when
    client.query(ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})

    # then the redirector was called once, the redirect was not followed
    assert [method for method, _h, _b in redirector.requests] == ["POST"]
    assert target.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending"  # a redirect is a failed try, retried later
    assert delivery.last_status_code == 302
    assert delivery.last_error == "HTTP 302 (redirects are not followed)"


@pytest.mark.parametrize(
    "store_credit_config", [{"webhook_target_urls": "", "webhook_secret": ""}]
)
def test_saving_target_urls_without_a_signing_secret_is_refused(
    store_credit_plugin, staff_api_client, permission_manage_plugins, store_credit_config
):
    from saleor.plugins.models import PluginConfiguration

    from saleor_store_credit.plugin import PLUGIN_ID

    staff_api_client.user.user_permissions.add(permission_manage_plugins)

    content = staff_api_client.post_graphql(PLUGIN_UPDATE, {
        "id": PLUGIN_ID,
        "input": {"configuration": [
            {"name": "webhook_target_urls", "value": "https://erp.example.com/hooks"}]},
    }).json()

    errors = content["data"]["pluginUpdate"]["errors"]
    assert errors == [{
        "field": "webhookSecret", "code": "INVALID",
        "message": "Set a webhook signing secret before adding webhook target URLs: "
                   "receivers must be able to verify every delivery.",
    }]
    stored = {i["name"]: i["value"] for i in
              PluginConfiguration.objects.get(identifier=PLUGIN_ID).configuration}
    assert stored["webhook_target_urls"] == ""


def test_a_target_saved_without_a_secret_before_is_never_sent_unsigned(
    store_credit_plugin, sc_client, staff_user, permission_manage_users,
    permission_manage_payments, customer_user, receiver,
):
    # given a configuration stored before the rule (targets, empty secret)
    from saleor.plugins.models import PluginConfiguration

    from saleor_store_credit.plugin import PLUGIN_ID

    row = PluginConfiguration.objects.get(identifier=PLUGIN_ID)
    row.configuration = [
        {**item, "value": {"webhook_target_urls": receiver.url,
                           "webhook_secret": ""}.get(item["name"], item["value"])}
        for item in row.configuration
    ]
    row.save()
    staff_user.user_permissions.add(permission_manage_users, permission_manage_payments)

    # when
    sc_client(user=staff_user).query(
        ADJUST, {"id": graphene.Node.to_global_id("User", customer_user.pk)})

    # then
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.last_error == "No webhook signing secret is configured: not sent."


@pytest.mark.django_db(transaction=True)
def test_no_database_row_lock_is_held_while_the_receiver_is_called(
    store_credit_plugin, customer_user
):
    # given a receiver that, while it handles the request, tries to lock the
    # delivery row from its own database connection without waiting
    from django.db import DatabaseError, connection, connections, transaction

    from saleor_store_credit.webhooks.delivery import deliver

    seen = []

    def try_lock():
        connections["replica"] = connections["default"]
        try:
            with transaction.atomic():
                row = WebhookDelivery.objects.select_for_update(nowait=True).get()
                seen.append(("unlocked", row.attempts))
        except DatabaseError as exc:
            seen.append(("locked", str(exc).splitlines()[0]))
        finally:
            connection.close()

    server = RecordingServer(on_request=try_lock)
    try:
        delivery = WebhookDelivery.objects.create(
            event_id="00000000-0000-0000-0000-000000000001", event="store_credit.test",
            payload={"id": "1"}, target_url=server.url, next_attempt_at=timezone.now(),
        )

        # when
        status = deliver(delivery.pk, secret=SECRET)
    finally:
        server.close()

    # then the row was free during the call, the try was already counted, and the
    # outcome was recorded afterwards
    assert seen == [("unlocked", 1)]
    assert status == "delivered"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered", 1, 200)
