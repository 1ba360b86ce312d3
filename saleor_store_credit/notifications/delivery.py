"""Render and send one logged e-mail through SMTP; record the attempt.

The row is claimed (pending -> sending) and committed before the SMTP call, so no
row lock or transaction is held while a mail server answers, and two workers never
send the same row. Connections are built explicitly (Django's SMTP backend, as
Saleor's own mailer does in `saleor/plugins/email_common.py`, `send_email`), never
from `settings.EMAIL_BACKEND`.
"""

import smtplib
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings as django_settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.utils import timezone

from ..conf import EmailSettings, StoreCreditSettings, load_settings
from .models import EmailDelivery, EmailStatus
from .templates import render

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
SMTP_TIMEOUT_SECONDS = 10
# One first try and the task's retries (tasks.EMAIL_MAX_RETRIES = 8) with Celery's
# exponential backoff: retry n waits a random time up to 60 s * 2**n, at most 6 h.
MAX_ATTEMPTS = 9
BACKOFF_SECONDS, BACKOFF_MAX_SECONDS = 60, 6 * 3600
# The sweeper (`resend_stuck_emails`): how late a try may be before it is re-sent, and
# how long a send may take before its worker counts as gone.
RESEND_GRACE = timedelta(minutes=5)
SENDING_TIMEOUT = timedelta(minutes=15)
MONEY_FIELDS = ("amount", "balance", "total")
DATE_FIELDS = ("expires_on",)


class TemporaryEmailError(Exception):
    """The mail server could not take the message now; Celery retries."""


def format_money(amount, currency: str, language: str) -> str:
    """Money per locale (CLDR via Babel, which Saleor uses): "$12.50" (en),
    "€ 12,50" (nl), "12,50 kr" (sv); the currency's own number of decimals."""
    from babel.numbers import format_currency

    return format_currency(Decimal(str(amount)), currency, locale=language)


def format_day(value, language: str) -> str:
    from babel.dates import format_date

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    assert isinstance(value, date)
    return format_date(value, format="long", locale=language)


def template_context(row: EmailDelivery) -> dict:
    from django.contrib.sites.models import Site

    context = dict(row.context)
    currency = context.get("currency", "")
    for name in MONEY_FIELDS:
        if context.get(name) not in (None, ""):
            context[name] = format_money(context[name], currency, row.language)
    for name in DATE_FIELDS:
        if context.get(name):
            context[name] = format_day(context[name], row.language)
    context.setdefault("shop_name", Site.objects.get_current().name)
    return context


def connection_for(email: EmailSettings):
    """The plugin's SMTP server, else Saleor's EMAIL_URL; None when neither is set
    (Saleor's test and development settings have no mail server)."""
    if email.host:
        port = email.port or (465 if email.use_ssl else 587 if email.use_tls else 25)
        return get_connection(
            SMTP_BACKEND, host=email.host, port=port, username=email.username or None,
            password=email.password or None, use_tls=email.use_tls,
            use_ssl=email.use_ssl, timeout=SMTP_TIMEOUT_SECONDS,
        )
    email_url = getattr(django_settings, "EMAIL_URL", None)
    if not email_url:
        return None
    import dj_email_url  # Saleor parses EMAIL_URL with it (saleor/settings.py)

    config = dj_email_url.parse(email_url)
    return get_connection(
        config.get("EMAIL_BACKEND") or SMTP_BACKEND, host=config.get("EMAIL_HOST"),
        port=config.get("EMAIL_PORT"), username=config.get("EMAIL_HOST_USER") or None,
        password=config.get("EMAIL_HOST_PASSWORD") or None,
        use_tls=config.get("EMAIL_USE_TLS", False), use_ssl=config.get("EMAIL_USE_SSL", False),
        timeout=SMTP_TIMEOUT_SECONDS,
    )


def sender_for(email: EmailSettings) -> str:
    return email.sender or django_settings.DEFAULT_FROM_EMAIL


def _is_permanent(exc: Exception) -> bool:
    """5xx answers will not change on a retry; 4xx and network errors may."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _msg in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def _record(row_id: int, **fields) -> str:
    EmailDelivery.objects.filter(pk=row_id).update(**fields)
    return fields.get("status", "")


def send_delivery(delivery_id: int, *, final_attempt: bool = False,
                  settings: StoreCreditSettings | None = None) -> str:
    """Send a pending e-mail once; returns its status after this attempt. Raises
    TemporaryEmailError when the server refused for now and a retry may succeed."""
    claimed = EmailDelivery.objects.filter(
        pk=delivery_id, status=EmailStatus.PENDING
    ).update(status=EmailStatus.SENDING, claimed_at=timezone.now())
    if not claimed:
        row = EmailDelivery.objects.filter(pk=delivery_id).only("status").first()
        return row.status if row else "missing"
    row = EmailDelivery.objects.get(pk=delivery_id)
    settings = settings or load_settings() or StoreCreditSettings()
    attempts = row.attempts + 1
    try:
        rendered = render(row.event, row.language, template_context(row), settings.email)
    except Exception as exc:  # a broken override: nothing a retry would fix
        return _record(row.pk, status=EmailStatus.FAILED, attempts=attempts,
                       last_error=f"Template error: {exc}"[:2000])
    connection = connection_for(settings.email)
    if connection is None:
        return _record(row.pk, status=EmailStatus.SKIPPED, subject=rendered.subject,
                       last_error="No SMTP server configured (plugin SMTP host or "
                       "Saleor's EMAIL_URL).")
    domain = sender_for(settings.email).rpartition("@")[2].strip(">") or None
    # One Message-ID per e-mail, kept across tries: a resent message is the same one.
    message_id = row.message_id or make_msgid(domain=domain)
    if not row.message_id:
        _record(row.pk, message_id=message_id)
    message = EmailMultiAlternatives(
        rendered.subject, rendered.text, sender_for(settings.email), [row.recipient],
        connection=connection, headers={"Message-ID": message_id},
    )
    if rendered.html:
        message.attach_alternative(rendered.html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        gave_up = final_attempt or attempts >= MAX_ATTEMPTS or _is_permanent(exc)
        # the latest moment the task's retry is due (Celery's full-jitter backoff)
        wait = min(BACKOFF_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS)
        _record(row.pk, status=EmailStatus.FAILED if gave_up else EmailStatus.PENDING,
                attempts=attempts, subject=rendered.subject,
                next_attempt_at=None if gave_up else timezone.now() + timedelta(
                    seconds=wait),
                last_error=f"{type(exc).__name__}: {exc}"[:2000])
        if gave_up:
            return EmailStatus.FAILED
        raise TemporaryEmailError(str(exc)) from exc
    return _record(row.pk, status=EmailStatus.SENT, attempts=attempts,
                   subject=rendered.subject, message_id=message_id, last_error="",
                   sent_at=timezone.now(), next_attempt_at=None)
