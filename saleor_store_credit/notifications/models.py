"""The e-mail delivery log: one row per e-mail the plugin sends to a customer.

Rows are written in the same DB transaction as the change they report, so an e-mail
exists exactly when its change committed; a Celery task renders and sends it after
commit and records every attempt here (staff read it: `storeCreditEmailDeliveries`).
"""

from django.conf import settings
from django.db import models

__all__ = ["EmailDelivery", "EmailStatus"]


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"
    SKIPPED = "skipped", "Skipped (no SMTP server configured)"


class EmailDelivery(models.Model):
    event = models.CharField(max_length=32)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="store_credit_emails",
    )
    recipient = models.EmailField(max_length=254)
    language = models.CharField(max_length=8)
    # What the templates need (amounts as strings + currency), rendered at send time.
    context = models.JSONField(default=dict)
    subject = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=EmailStatus.choices, default=EmailStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    message_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the next try is due at the latest (pending) and when a worker took the row
    # (sending): the sweeper re-sends a row whose Celery task was lost.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "saleor_store_credit"
        indexes = [
            models.Index(fields=["event", "created_at"], name="sc_email_event_time"),
            models.Index(fields=["status", "next_attempt_at"], name="sc_email_due"),
        ]
