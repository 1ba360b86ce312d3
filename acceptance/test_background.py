"""What happens with nobody calling: the plugin's periodic tasks fired by `celery beat`
(Celery's default scheduler, every few seconds here), and webhook retries.

The module's world is set up at once so the waits overlap: credit that expires in a
few seconds, a checkout abandoned with a one-minute hold lifetime, and a webhook
receiver that refuses the first delivery of one event."""

import json
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from .conftest import ARTIFACTS, grant, plugin_update, signature_is_valid, wait_for
from .test_storefront import apply


@pytest.fixture(scope="module")
def world(saleor, people, webhooks):
    expiring, abandoning, hooked = people.shopper(), people.shopper(), people.shopper()
    # a receiver that answers 500 to the first delivery about `hooked`
    webhooks.fail(lambda p: p.get("data", {}).get("customer_email") == hooked.email)
    assert grant(saleor, hooked, "1.00")["errors"] == []
    # credit that expires in three seconds
    soon = (datetime.now(timezone.utc) + timedelta(seconds=3)).isoformat()
    assert grant(saleor, expiring, "4.00", expires_at=soon)["errors"] == []
    assert grant(saleor, expiring, "1.00")["errors"] == []
    # a hold on a checkout nobody completes, with a lifetime of one minute
    assert plugin_update(saleor, {"hold_lifetime_minutes": "1"})["data"]["pluginUpdate"][
        "errors"] == []
    try:
        # the other API processes read a saved configuration within 5 seconds (README,
        # "Configure"): the apply below may land on any of them
        time.sleep(6)
        grant(saleor, abandoning, "2.00")
        checkout_id, _total = abandoning.checkout()
        assert apply(saleor, abandoning, checkout_id, "2.00")["errors"] == []
    finally:
        plugin_update(saleor, {"hold_lifetime_minutes": "1440"})
    started = time.time()
    assert abandoning.account()["held"] == Decimal("2.00")
    return {"expiring": expiring, "abandoning": abandoning, "hooked": hooked,
            "started": started}


def test_credit_past_its_expiry_is_taken_off_by_the_scheduled_task(world):
    # given 4.00 that expired seconds ago and 1.00 that does not expire
    shopper = world["expiring"]
    # when beat runs `expire_credit` (nobody calls anything)
    # then only the expired credit is gone
    wait_for(lambda: shopper.account()["balance"] == Decimal("1.00"), timeout=60,
             every=1, what="the expired 4.00 to be taken off")
    assert shopper.account()["available"] == Decimal("1.00")


def test_an_abandoned_checkouts_credit_is_released_by_the_scheduled_sweeper(world, saleor):
    # given a checkout holding 2.00 whose hold lifetime (one minute) runs out
    shopper = world["abandoning"]
    # when beat runs the sweeper after that
    # then the 2.00 is available again, and Saleor's transaction is cancelled with it
    wait_for(lambda: shopper.account()["held"] == 0, timeout=120, every=2,
             what="the abandoned hold to be released")
    assert shopper.account() == {"balance": Decimal("2.00"), "held": 0,
                                 "available": Decimal("2.00")}
    assert time.time() - world["started"] >= 55  # not before its lifetime ran out


def test_a_refused_webhook_is_delivered_again_with_the_same_id_and_a_valid_signature(
        world, webhooks):
    # given the receiver refused the first delivery about the shopper
    email = world["hooked"].email

    def about(p):
        return p["data"].get("customer_email") == email

    # when the plugin retries (backoff 30 s)
    tries = webhooks.wait("store_credit.balance_changed", about, count=2, timeout=120)
    # then the retry carries the same event id, and each is signed
    ids = {t["headers"]["Store-Credit-Event-Id"] for t in tries}
    assert len(ids) == 1, ids
    assert all(signature_is_valid(t) for t in tries)
    assert json.loads(tries[0]["body"]) == json.loads(tries[1]["body"])
    assert tries[1]["at"] - tries[0]["at"] >= 20


def test_beat_sends_every_periodic_task_of_the_plugin(world):
    # given beat has been running for a while with the default scheduler
    log = ARTIFACTS / "saleor-beat.log"
    expected = {
        "saleor_store_credit.release_abandoned_holds", "saleor_store_credit.expire_credit",
        "saleor_store_credit.deliver_due_webhooks", "saleor_store_credit.evaluate_held_orders",
        "saleor_store_credit.reconcile_ledger", "saleor_store_credit.resume_reimbursement_runs",
        "saleor_store_credit.notify_expiring_credit", "saleor_store_credit.end_temporary_limits",
        "saleor_store_credit.resend_stuck_emails",
    }

    def sent():
        text = log.read_text(errors="replace")
        return {name for name in expected if f"Sending due task {name} " in text} == expected

    # then each of the plugin's entries was sent by beat
    wait_for(sent, timeout=30, every=1, what="beat to send every plugin task")
    worker = (ARTIFACTS / "saleor-worker.log").read_text(errors="replace")
    assert "saleor_store_credit.tasks.expire_credit_task" in worker
    assert "saleor_store_credit.tasks.release_abandoned_store_credit_holds_task" in worker
