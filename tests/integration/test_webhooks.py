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
