"""Celery tasks (autodiscovered by Saleor's worker). Thin: they call services."""

import logging

from saleor.celeryconf import app
from saleor.core.db.connection import allow_writer

logger = logging.getLogger(__name__)


@app.task
def release_abandoned_store_credit_holds_task(batch_size: int = 500) -> int:
    """Settle every hold by its checkout or order: release expired or orphaned
    checkout reservations, charge confirmed orders, release cancelled ones."""
    from .checkout import release_abandoned_holds

    # Saleor refuses writer-DB access in tasks unless asked for explicitly.
    with allow_writer():
        released = release_abandoned_holds(batch_size=batch_size)
    if released:
        logger.info("Released %s abandoned store credit hold(s).", released)
    return released


@app.task
def capture_store_credit_task(order_id: str) -> int:
    """Charge the store credit of an order just confirmed (requested by the plugin's
    `order_confirmed` after its commit); the sweeper makes up a lost run."""
    from .checkout import settle_order

    with allow_writer():
        return settle_order(order_id)


@app.task(bind=True, max_retries=None)
def deliver_webhook_task(self, delivery_id: int) -> str:
    """Send one outgoing webhook; on failure retry with backoff until it gives up."""
    from .models import WebhookDelivery
    from .webhooks.delivery import backoff, deliver

    with allow_writer():
        status = deliver(delivery_id)
        if status == "pending" and not app.conf.task_always_eager:
            attempts = WebhookDelivery.objects.get(pk=delivery_id).attempts
            raise self.retry(countdown=backoff(attempts).total_seconds())
    return status


@app.task
def deliver_due_webhooks_task() -> int:
    """Safety net: send pending deliveries whose retry time has come."""
    from .webhooks.delivery import deliver, due_deliveries

    with allow_writer():
        sent = 0
        for delivery_id in due_deliveries():
            if deliver(delivery_id) == "delivered":
                sent += 1
    return sent


@app.task
def run_reimbursement_task(run_id: int) -> str:
    """Process or resume a reimbursement run (one worker at a time per run)."""
    from .reimbursement import process_run

    with allow_writer():
        return process_run(run_id)


@app.task
def resume_reimbursement_runs_task() -> int:
    """Safety net: pick up runs a crashed worker left unfinished."""
    from .models import ReimbursementRun, RunStatus

    with allow_writer():
        ids = list(
            ReimbursementRun.objects.exclude(status=RunStatus.COMPLETED).values_list(
                "pk", flat=True
            )
        )
    for run_id in ids:
        run_reimbursement_task.delay(run_id)
    return len(ids)


@app.task
def reconcile_ledger_task() -> bool:
    """Nightly: recompute every balance from its entries and holds; report drift."""
    from .reports import reconcile

    with allow_writer():
        return reconcile().ok


@app.task
def expire_credit_task() -> int:
    """Write off what is left of expired store credit."""
    from .ledger import expire_credit

    with allow_writer():
        return expire_credit()


@app.task
def notify_expiring_credit_task() -> int:
    """Daily: tell customers about credit that expires within a week."""
    from .conf import load_settings
    from .integration import notify_expiring_credit

    with allow_writer():
        settings = load_settings()
        return notify_expiring_credit(settings=settings) if settings else 0


@app.task
def evaluate_held_orders_task() -> dict:
    """Re-check orders on credit hold; release those no rule holds any more."""
    from saleor.plugins.manager import get_plugins_manager

    from .conf import load_settings
    from .credit.holds import evaluate_held_orders

    with allow_writer():
        settings = load_settings()
        if settings is None or not settings.credit_channels:
            return {}
        counts = evaluate_held_orders(get_plugins_manager(allow_replica=False))
    if counts.get("released") or counts.get("updated"):
        logger.info("Credit hold evaluation: %s", counts)
    return counts


@app.task
def end_temporary_limits_task() -> int:
    """Close temporary credit limits whose period is over (audit + limit_changed)."""
    from .credit.limits import end_temporary_limits

    with allow_writer():
        return end_temporary_limits()


@app.task
def payment_terms_due_dates_task() -> dict:
    """Due dates of orders on payment terms: `store_credit.order_due` and
    `store_credit.order_overdue`, each once per order (credit/terms.py)."""
    from .conf import load_settings
    from .credit.terms import process_due_dates

    with allow_writer():
        settings = load_settings()
        if settings is None or not settings.credit_channels:
            return {}
        counts = process_due_dates()
    if any(counts.values()):
        logger.info("Payment terms: %s", counts)
    return counts


@app.task
def expire_on_account_authorizations_task() -> int:
    """Release pay-on-account authorizations of checkouts that were not completed in
    the hold lifetime or were deleted (checkout/on_account.py)."""
    from .conf import load_settings

    from .checkout.on_account import expire

    with allow_writer():
        if load_settings() is None:
            return 0
        return expire()


EMAIL_MAX_RETRIES = 8


def _email_retry_errors():
    from .notifications.delivery import TemporaryEmailError

    return (TemporaryEmailError,)


@app.task(
    bind=True, autoretry_for=_email_retry_errors(), retry_backoff=60,
    retry_backoff_max=6 * 3600, retry_jitter=True, max_retries=EMAIL_MAX_RETRIES,
)
def send_store_credit_email_task(self, delivery_id: int) -> str:
    """Send one logged customer e-mail; a mail server that refuses for now is retried
    with exponential backoff (1 min, 2, 4 … up to 6 h), the last try gives up."""
    from .notifications.delivery import send_delivery

    with allow_writer():
        return send_delivery(delivery_id, final_attempt=self.request.retries >= self.max_retries)


@app.task
def resend_stuck_emails_task() -> dict:
    """Send again e-mails whose Celery task was lost (broker outage, a worker gone
    mid-send); see `notifications.resend_stuck_emails`."""
    from .notifications import resend_stuck_emails

    with allow_writer():
        return resend_stuck_emails()


@app.task
def update_risk_scores_task(run_id: int | None = None) -> dict:
    """Daily: score customers, record risk class changes, propose automatic limits
    (journal lines, never posted here). `run_id`: a run staff started."""
    from .conf import load_settings
    from .credit.risk import update_risk_scores
    from .credit.risk_models import RiskScoreRun

    with allow_writer():
        settings = load_settings()
        run = RiskScoreRun.objects.filter(pk=run_id).first() if run_id else None
        if run is None and (settings is None or not settings.credit_channels):
            return {}
        run = update_risk_scores(run=run)
    return {"run": run.pk, "customers": run.processed, "class_changes": run.class_changes,
            "proposals": run.proposals}


@app.task
def apply_forced_credit_holds_task() -> dict:
    """Hourly: put accounts that meet a forced-hold rule on forced credit hold."""
    from .conf import load_settings
    from .credit.forced_hold import apply_forced_holds

    with allow_writer():
        settings = load_settings()
        if settings is None or not settings.credit_channels:
            return {}
        counts = apply_forced_holds()
    if counts.get("placed") or counts.get("rearmed"):
        logger.info("Forced credit holds: %s", counts)
    return counts
