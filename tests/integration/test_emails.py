"""The plugin's own customer e-mails, received by a real SMTP server on loopback
(aiosmtpd, started per test), in English, Dutch and Swedish (issue 16, item 1).

Saleor's mailers drop event names they do not know, so nothing but these e-mails
reaches the customer; every assertion is on a message the SMTP server received.
"""

import socket
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes, policy

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)
aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

from django.utils import timezone  # noqa: E402

from saleor.order import OrderStatus  # noqa: E402
from saleor.order.models import Order  # noqa: E402

from saleor_store_credit.models import Account, CreditLot  # noqa: E402
from saleor_store_credit.plugin import PLUGIN_ID  # noqa: E402
from saleor_store_credit.tasks import notify_expiring_credit_task  # noqa: E402

from . import test_credit, test_creditmemo  # noqa: E402
from .test_checkout import gid, grant  # noqa: E402
from .test_credit import RELEASE, ok, rule  # noqa: E402
from .test_creditmemo import memo  # noqa: E402
from .test_plugin import PLUGIN_UPDATE  # noqa: E402
from .test_reimbursement import RESOLVE, customers, start  # noqa: E402

hold_channel = test_credit.hold_channel
place = test_credit.place
order_total = test_credit.order_total
place_order = test_creditmemo.place_order

SENDER = "Shop <shop@example.com>"
ADJUST = """
mutation ($id: ID!, $amount: Decimal!, $currency: String!, $reason: String!,
          $notify: Boolean, $key: String) {
  storeCreditAdjust(customerId: $id, amount: $amount, currency: $currency,
                    reason: $reason, notifyCustomer: $notify, idempotencyKey: $key) {
    entry { id } errors { field code message }
  }
}
"""
LOG = """
query ($event: String, $customer: ID) {
  storeCreditEmailDeliveries(event: $event, customerId: $customer) {
    id event customerId recipient language subject status attempts lastError messageId sentAt
  }
}
"""
EVENTS = ("balance_changed", "credit_memo_issued", "credit_expiring", "payout_paid",
          "payout_failed", "order_held", "order_released")
SV_MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
             "september", "oktober", "november", "december"]


def rows():
    from saleor_store_credit.models import EmailDelivery

    return EmailDelivery.objects


class Inbox:
    """aiosmtpd handler: keeps every accepted message; answers `refusals` first."""

    def __init__(self):
        self.messages = []
        self.refusals = []

    async def handle_DATA(self, server, session, envelope):
        if self.refusals:
            return self.refusals.pop(0)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        message.envelope_to = list(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = aiosmtpd_controller.Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def store_credit_config(smtp):
    return {
        "smtp_host": "127.0.0.1", "smtp_port": str(smtp.port),
        "email_sender": SENDER, "credit_management_channels": "*",
        "default_credit_expiry_days": "30", "notify_credit_expiring": True,
    }


@pytest.fixture
def staff(sc_client, staff_user, permission_manage_users, permission_manage_payments,
          permission_manage_orders):
    grant(staff_user, permission_manage_users, permission_manage_payments,
          permission_manage_orders)
    return sc_client(user=staff_user)


def subject(message) -> str:
    """The decoded Subject; a long non-ASCII subject is folded (RFC 2047), which
    can leave the folding space in front."""
    return message["Subject"].replace("\xa0", " ").strip()


def plain(message) -> str:
    """The text/plain part; Babel separates currency and number with a no-break
    space, SMTP ends lines with CRLF."""
    part = message.get_body(("plain",)).get_content()
    return part.replace("\xa0", " ").replace("\r\n", "\n")


def html(message) -> str:
    return message.get_body(("html",)).get_content().replace("\xa0", " ")


def speaks(user, language):
    user.language_code = language
    user.save(update_fields=["language_code"])
    return user


def adjust(client, user, amount, currency="USD", notify=True, reason="Goodwill", key=None):
    content = client.query(ADJUST, {"id": gid("User", user.pk), "amount": amount,
                                    "currency": currency, "reason": reason,
                                    "notify": notify, "key": key})
    assert content["data"]["storeCreditAdjust"]["errors"] == [], content
    return content


def log(client, **variables):
    content = client.query(LOG, variables)
    assert "errors" not in content, content
    return content["data"]["storeCreditEmailDeliveries"]


# --- balance changed (staff adjustment with "notify customer") --------------------


@pytest.mark.parametrize(
    ("language", "currency", "title", "added", "now"),
    [
        ("en", "USD", "Your store credit balance has changed",
         "$2.50 has been added to your store credit.", "Your balance is now $12.50."),
        ("nl", "EUR", "Je tegoed is gewijzigd",
         "Er is € 2,50 aan je tegoed toegevoegd.", "Je saldo is nu € 12,50."),
        ("sv", "SEK", "Ditt tillgodohavande har ändrats",
         "2,50 kr har lagts till på ditt tillgodohavande.", "Ditt saldo är nu 12,50 kr."),
    ],
)
def test_adjustment_with_notify_mails_the_customer_in_their_language(
    staff, smtp, customer_user, language, currency, title, added, now
):
    # given a customer who reads `language` and has 10.00 of credit
    speaks(customer_user, language)
    adjust(staff, customer_user, "10.00", currency, notify=False)

    # when staff add 2.50 and ask to notify the customer
    adjust(staff, customer_user, "2.50", currency, reason="Sorry <b>late</b>")

    # then exactly one message reached the SMTP server, in the customer's language
    [message] = smtp.messages
    assert subject(message) == title
    assert message["To"] == customer_user.email
    assert message.envelope_to == [customer_user.email]
    assert message["From"] == SENDER
    assert added in plain(message) and now in plain(message)
    assert "Sorry <b>late</b>" in plain(message)  # plain text is not escaped
    assert "Sorry &lt;b&gt;late&lt;/b&gt;" in html(message)  # HTML is
    assert f'<html lang="{language}">' in html(message) and now in html(message)
    # and staff read the delivery in the log
    [row] = log(staff, event="balance_changed")
    assert (row["status"], row["attempts"], row["language"]) == ("SENT", 1, language)
    assert row["subject"] == title and row["recipient"] == customer_user.email
    assert row["messageId"] == message["Message-ID"]
    assert row["customerId"] == gid("User", customer_user.pk)


def test_adjustment_without_notify_sends_nothing(staff, smtp, customer_user):
    adjust(staff, customer_user, "5.00", notify=False)

    assert smtp.messages == []
    assert rows().count() == 0


def test_refused_adjustment_sends_nothing(staff, smtp, customer_user):
    # a deduction beyond the balance is refused: nothing changed, nobody is told
    content = staff.query(ADJUST, {"id": gid("User", customer_user.pk), "amount": "-5.00",
                                   "currency": "USD", "reason": "x", "notify": True})

    assert content["data"]["storeCreditAdjust"]["errors"][0]["code"] == "INSUFFICIENT_FUNDS"
    assert smtp.messages == [] and rows().count() == 0


def test_replayed_adjustment_is_mailed_once(staff, smtp, customer_user):
    adjust(staff, customer_user, "5.00", key="same-key")
    adjust(staff, customer_user, "5.00", key="same-key")

    assert len(smtp.messages) == 1
    assert Account.objects.get(user=customer_user).balance == Decimal("5.00")


def test_regional_language_codes_use_their_language_and_others_english(staff, smtp):
    from saleor.account.models import User

    belgian = User.objects.create(email="be@example.com", is_active=True, language_code="nl-be")
    german = User.objects.create(email="de@example.com", is_active=True, language_code="de")

    adjust(staff, belgian, "1.00")
    adjust(staff, german, "1.00")

    subjects = {m["To"]: subject(m) for m in smtp.messages}
    assert subjects == {"be@example.com": "Je tegoed is gewijzigd",
                        "de@example.com": "Your store credit balance has changed"}


# --- credit memo issued -------------------------------------------------------------


def test_credit_memo_mails_the_customer_in_dutch(place_order, staff, smtp, customer_user):
    # given a Dutch-speaking customer's order paid by card
    speaks(customer_user, "nl")
    order, _total = place_order(None)

    # when staff refund 2.50 of it to store credit
    result = memo(staff, order, amount="2.50")

    # then the customer receives the credit memo e-mail in Dutch
    assert result["errors"] == []
    [message] = smtp.messages
    assert subject(message) == f"Bestelling {order.number}: US$ 2,50 teruggestort als tegoed"
    assert f"We hebben US$ 2,50 voor bestelling {order.number} teruggestort" in plain(message)
    assert "Je saldo is nu US$ 2,50." in plain(message)
    assert rows().get().status == "sent"


@pytest.mark.parametrize("store_credit_config", [{"notify_credit_memo": False}])
def test_credit_memo_switch_off_sends_nothing(place_order, staff, smtp, store_credit_config):
    order, _total = place_order(None)

    memo(staff, order, amount="2.50")

    assert smtp.messages == [] and rows().count() == 0


# --- credit expiring soon -----------------------------------------------------------


def test_expiring_credit_is_mailed_once_in_swedish(
    staff, smtp, customer_user, django_capture_on_commit_callbacks
):
    # given a Swedish-speaking customer with credit expiring in three days
    speaks(customer_user, "sv")
    adjust(staff, customer_user, "12.50", notify=False)
    expires = timezone.now() + timedelta(days=3)
    CreditLot.objects.update(expires_at=expires)

    # when the daily task runs twice
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_expiring_credit_task.delay().get() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_expiring_credit_task.delay().get() == 0

    # then one Swedish message names the amount and the day
    [message] = smtp.messages
    day = timezone.localtime(expires).date()
    on = f"{day.day} {SV_MONTHS[day.month - 1]} {day.year}"
    assert subject(message) == (
        f"Ditt tillgodohavande på 12,50 US$ upphör att gälla {on}")
    assert f"12,50 US$ av ditt tillgodohavande upphör att gälla {on}." in plain(message)


# --- payouts paid / failed ----------------------------------------------------------


def test_payout_paid_and_failed_are_mailed(staff, smtp):
    # given two customers paid out by a reimbursement run, one Dutch-speaking
    paid_user, failed_user = customers("12.00", "7.00")
    speaks(failed_user, "nl")
    run = start(staff, {"currency": "USD", "minimumAmount": "1"})["run"]
    payouts = {p["payeeEmail"]: p["id"] for p in run["payouts"]}

    # when finance mark one paid and the other failed
    staff.query(RESOLVE % "payoutMarkPaid", {"id": payouts[paid_user.email]})
    staff.query(RESOLVE % "payoutMarkFailed",
                {"id": payouts[failed_user.email], "note": "IBAN rejected"})

    # then each customer receives their e-mail
    received = {m["To"]: m for m in smtp.messages}
    assert set(received) == {paid_user.email, failed_user.email}
    paid = received[paid_user.email]
    assert subject(paid) == "Your store credit payout of $12.00 has been paid"
    failed = received[failed_user.email]
    assert subject(failed) == "Je uitbetaling van US$ 7,00 is mislukt"
    assert "Het bedrag staat weer op je tegoed; je saldo is nu US$ 7,00." in plain(failed)
    assert "IBAN rejected" not in plain(failed)  # finance's note stays internal


# --- B2B orders held / released -----------------------------------------------------


def test_held_and_released_orders_are_mailed_in_swedish(
    place, staff, smtp, customer_user, order_total
):
    # given a Swedish-speaking B2B customer and a rule holding orders over a value
    speaks(customer_user, "sv")
    rule(staff, ruleType="ORDER_VALUE", action="HOLD", currency="USD",
         threshold=str(order_total - 1))

    # when the customer orders and staff release the held order
    place()
    order = Order.objects.get()
    assert order.status == OrderStatus.UNCONFIRMED
    [hold] = staff.query("{ orderCreditHolds { id } }")["data"]["orderCreditHolds"]
    ok(staff.query(RELEASE, {"id": hold["id"], "reason": "paid upfront"}),
       "orderCreditHoldRelease")

    # then the customer got "held" and then "released", in Swedish
    held, released = smtp.messages
    assert subject(held) == f"Order {order.number} granskas"
    total = f"{order_total:.2f}".replace(".", ",")
    assert f"Tack för din order {order.number} ({total} US$)." in plain(held)
    assert subject(released) == f"Order {order.number} har släppts"
    assert "behandlas nu" in plain(released)
    assert "paid upfront" not in plain(released)


# --- delivery: retries, failures, fallbacks, overrides -----------------------------


def test_temporary_smtp_refusals_are_retried_until_sent(staff, smtp, customer_user):
    smtp.refusals = ["451 4.3.0 Try again later", "451 4.3.0 Try again later"]

    adjust(staff, customer_user, "3.00")

    [message] = smtp.messages
    assert subject(message) == "Your store credit balance has changed"
    row = rows().get()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")


def test_permanent_refusal_is_logged_failed_and_the_change_stays(staff, smtp, customer_user):
    smtp.refusals = ["550 5.1.1 Mailbox unavailable"]

    adjust(staff, customer_user, "3.00")

    assert smtp.messages == []
    [row] = log(staff)
    assert (row["status"], row["attempts"]) == ("FAILED", 1)
    assert "550" in row["lastError"] and "Mailbox unavailable" in row["lastError"]
    assert Account.objects.get(user=customer_user).balance == Decimal("3.00")


def test_unreachable_server_gives_up_after_the_retries(staff, customer_user, settings,
                                                      store_credit_plugin):
    from saleor_store_credit.tasks import EMAIL_MAX_RETRIES

    closed = _free_port()  # nothing listens there
    config = store_credit_plugin.configuration
    for item in config:
        if item["name"] == "smtp_port":
            item["value"] = str(closed)
    store_credit_plugin.save(update_fields=["configuration"])

    adjust(staff, customer_user, "3.00")

    row = rows().get()
    assert row.status == "failed" and row.attempts == EMAIL_MAX_RETRIES + 1
    assert "Connection refused" in row.last_error or "ConnectionRefused" in row.last_error


@pytest.mark.parametrize("store_credit_config", [{}])
def test_falls_back_to_saleors_email_url_and_default_from_email(
    staff, smtp, customer_user, settings, store_credit_config
):
    # given no SMTP server in the plugin, but Saleor's EMAIL_URL and DEFAULT_FROM_EMAIL
    settings.EMAIL_URL = f"smtp://127.0.0.1:{smtp.port}"
    settings.DEFAULT_FROM_EMAIL = "saleor@example.com"

    adjust(staff, customer_user, "3.00")

    [message] = smtp.messages
    assert message["From"] == "saleor@example.com"
    assert subject(message) == "Your store credit balance has changed"


@pytest.mark.parametrize("store_credit_config", [{}])
def test_without_any_smtp_server_the_e_mail_is_logged_as_skipped(
    staff, smtp, customer_user, settings, store_credit_config
):
    settings.EMAIL_URL = None

    adjust(staff, customer_user, "3.00")

    assert smtp.messages == []
    [row] = log(staff)
    assert row["status"] == "SKIPPED" and "No SMTP server" in row["lastError"]
    assert Account.objects.get(user=customer_user).balance == Decimal("3.00")


OVERRIDE = (
    "{% if language == 'nl' %}Tegoed: {{ amount }}{% else %}Credit: {{ amount }}{% endif %}\n"
    "\n"
    "New balance {{ balance }}.\n"
    "--- html ---\n"
    "<p>New balance <b>{{ balance }}</b></p>\n"
)


def test_template_override_from_the_configuration_is_used(
    staff, smtp, customer_user, store_credit_plugin
):
    speaks(customer_user, "nl")
    for item in store_credit_plugin.configuration:
        if item["name"] == "email_template_balance_changed":
            item["value"] = OVERRIDE
    store_credit_plugin.save(update_fields=["configuration"])

    adjust(staff, customer_user, "4.00", currency="EUR")

    [message] = smtp.messages
    assert subject(message) == "Tegoed: € 4,00"
    assert plain(message) == "New balance € 4,00.\n"
    assert "<p>New balance <b>€ 4,00</b></p>" in html(message)


def test_plugin_update_refuses_a_broken_template_and_keeps_the_old_one(
    store_credit_plugin, staff_api_client, permission_manage_plugins
):
    from saleor.plugins.models import PluginConfiguration

    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    name = "email_template_order_held"

    content = staff_api_client.post_graphql(PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {
        "configuration": [{"name": name, "value": "Order {% if %}\n\nbody"}]}}).json()

    [error] = content["data"]["pluginUpdate"]["errors"]
    assert error["field"] == "emailTemplateOrderHeld" and error["code"] == "INVALID"
    stored = PluginConfiguration.objects.get(identifier=PLUGIN_ID).configuration
    assert {item["name"]: item["value"] for item in stored}[name] == ""


def test_every_event_ships_text_and_html_in_three_languages():
    from saleor_store_credit.notifications.templates import LANGUAGES, TEMPLATE_DIR

    shipped = {path.name for path in TEMPLATE_DIR.iterdir()}
    expected = {f"{event}.{language}.{kind}" for event in EVENTS
                for language in LANGUAGES for kind in ("txt", "html")}
    assert shipped == expected


def test_e_mail_log_is_refused_to_customers(sc_client, staff, smtp, customer_user):
    adjust(staff, customer_user, "1.00")

    content = sc_client(user=customer_user).query(LOG, {})

    assert content["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"


def test_deleting_the_customer_removes_them_from_the_e_mail_log(staff, smtp, customer_user):
    adjust(staff, customer_user, "1.00", reason="for Leslie at 1 Main St")
    assert rows().get().recipient == customer_user.email

    customer_user.delete()

    row = rows().get()
    assert (row.recipient, row.context, row.user_id) == ("deleted-user@invalid", {}, None)
    assert (row.event, row.status) == ("balance_changed", "sent")


# --- e-mails whose Celery task was lost (the sweeper) -------------------------------


def _lost(staff, customer_user, smtp, **fields):
    """An e-mail logged by a committed change whose first try was refused for now and
    whose retry task was lost with its broker message (the row is put in that state)."""
    adjust(staff, customer_user, "3.00")
    smtp.messages.clear()
    row = rows().get()
    rows().filter(pk=row.pk).update(status="pending", attempts=1, sent_at=None,
                                    last_error="SMTPDataError: (451, 'Try again later')",
                                    **fields)
    return rows().get()


def test_a_pending_e_mail_whose_retry_was_lost_is_sent_by_the_sweeper(
        staff, smtp, customer_user):
    from saleor_store_credit.tasks import resend_stuck_emails_task

    # given a pending e-mail whose retry was due ten minutes ago and never ran
    row = _lost(staff, customer_user, smtp,
                next_attempt_at=timezone.now() - timedelta(minutes=10))
    # when the periodic sweeper runs
    result = resend_stuck_emails_task.delay().get()
    # then the customer receives it once, with the Message-ID of the first try
    assert result == {"resent": 1, "were_sending": 0, "gave_up": 0}
    [message] = smtp.messages
    assert subject(message) == "Your store credit balance has changed"
    sent = rows().get()
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, "")
    assert message["Message-ID"] == sent.message_id == row.message_id != ""
    # and a second sweep sends nothing more
    assert resend_stuck_emails_task.delay().get()["resent"] == 0
    assert len(smtp.messages) == 1


def test_a_pending_e_mail_whose_retry_is_still_ahead_is_left_alone(
        staff, smtp, customer_user):
    from saleor_store_credit.notifications import resend_stuck_emails

    # given a refused first try whose Celery retry is due in two minutes at the latest
    row = _lost(staff, customer_user, smtp,
                next_attempt_at=timezone.now() + timedelta(minutes=2))
    # when the sweeper runs, even four minutes after that moment
    result = resend_stuck_emails(now=row.next_attempt_at + timedelta(minutes=4))
    # then it does not send a second copy beside the scheduled retry
    assert result["resent"] == 0 and smtp.messages == []
    assert rows().get().status == "pending"


def test_a_refused_try_records_when_its_retry_is_due_at_the_latest(
        staff, smtp, customer_user, settings):
    from saleor_store_credit.notifications.delivery import send_delivery

    # given an e-mail logged, and a server that refuses for now
    row = _lost(staff, customer_user, smtp, next_attempt_at=timezone.now())
    smtp.refusals = ["451 4.3.0 Try again later"]
    before = timezone.now()
    # when the second try is refused
    with pytest.raises(Exception, match="Try again later"):
        send_delivery(row.pk)
    # then the row says the third try is due within Celery's backoff bound (2 min)
    row = rows().get()
    assert row.status == "pending" and row.attempts == 2
    assert before + timedelta(seconds=119) <= row.next_attempt_at <= timezone.now() + \
        timedelta(seconds=121)


def test_an_e_mail_left_sending_by_a_dead_worker_is_sent_again_later(
        staff, smtp, customer_user):
    from saleor_store_credit.notifications import resend_stuck_emails

    # given e-mails claimed by workers that died: one 20 minutes ago, one just now
    adjust(staff, customer_user, "3.00")
    adjust(staff, customer_user, "4.00")
    smtp.messages.clear()
    old, recent = rows().order_by("pk")
    rows().filter(pk=old.pk).update(status="sending",
                                    claimed_at=timezone.now() - timedelta(minutes=20))
    rows().filter(pk=recent.pk).update(status="sending", claimed_at=timezone.now())
    # when the sweeper runs
    result = resend_stuck_emails()
    # then only the long-dead one is sent again; the other may still be in flight
    assert result == {"resent": 1, "were_sending": 1, "gave_up": 0}
    assert len(smtp.messages) == 1
    assert rows().get(pk=old.pk).status == "sent"
    assert rows().get(pk=recent.pk).status == "sending"


def test_a_lost_e_mail_with_no_try_left_is_marked_failed_not_sent(
        staff, smtp, customer_user):
    from saleor_store_credit.notifications import resend_stuck_emails
    from saleor_store_credit.notifications.delivery import MAX_ATTEMPTS

    # given a pending e-mail that used up every try and whose last task was lost
    adjust(staff, customer_user, "3.00")
    smtp.messages.clear()
    row = rows().get()
    rows().filter(pk=row.pk).update(status="pending", attempts=MAX_ATTEMPTS,
                                    next_attempt_at=timezone.now() - timedelta(hours=1))
    # when the sweeper runs
    result = resend_stuck_emails()
    # then it is logged as failed and nothing is sent
    assert result == {"resent": 0, "were_sending": 0, "gave_up": 1}
    assert rows().get().status == "failed" and smtp.messages == []
