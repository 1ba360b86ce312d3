"""The Saleor plugin: translates Saleor hooks and HTTP requests into service calls."""

from django.core.exceptions import ValidationError
from django.http import HttpResponseNotFound

from saleor.plugins.base_plugin import BasePlugin, ConfigurationTypeField

from . import conf
from .conf import ConfigurationError, StoreCreditSettings

PLUGIN_ID = "saleor-store-credit"
GRAPHQL_PATH = "/graphql/"

_S = ConfigurationTypeField


def _not_fully_paid(message: str):
    """The error `preprocess_order_creation` raises for an unpaid checkout, with a
    code that exists in the calling mutation's error enum."""
    from .credit.holds import checkout_error_code

    return ValidationError(message, code=checkout_error_code())


def plugins_manager():
    """Saleor's plugins manager, built on first use: loading it reads the plugin
    configurations, and most hooks never need it."""
    from django.utils.functional import SimpleLazyObject

    from saleor.plugins.manager import get_plugins_manager

    return SimpleLazyObject(lambda: get_plugins_manager(allow_replica=False))


def _parsed_settings(configuration) -> StoreCreditSettings:
    """The typed settings of a configuration. Saleor builds the plugin for every
    request; parsing is remembered per distinct configuration (the settings are
    frozen), so an unchanged configuration costs a lookup."""
    import json

    key = json.dumps(
        [(item.get("name"), item.get("value")) for item in configuration or []],
        default=str,
    )
    settings = _SETTINGS_BY_CONFIGURATION.get(key)
    if settings is None:
        try:
            settings = StoreCreditSettings.from_configuration(configuration)
        except ConfigurationError:
            # Saved configurations are validated; this only guards hand-edited rows.
            settings = StoreCreditSettings()
        if len(_SETTINGS_BY_CONFIGURATION) >= 32:
            _SETTINGS_BY_CONFIGURATION.clear()
        _SETTINGS_BY_CONFIGURATION[key] = settings
    return settings


_SETTINGS_BY_CONFIGURATION: dict[str, StoreCreditSettings] = {}


class StoreCreditPlugin(BasePlugin):
    PLUGIN_ID = PLUGIN_ID
    PLUGIN_NAME = "Store credit"
    PLUGIN_DESCRIPTION = (
        "Customer store credit: balances, history, staff adjustments and payment at "
        f"checkout. API: /plugins/global/{PLUGIN_ID}{GRAPHQL_PATH}. "
        "Deactivating it stops store credit at checkout and in refunds; credit "
        "already reserved stays reserved, and orders confirmed or cancelled "
        "meanwhile are charged or released when the plugin is activated again."
    )
    CONFIGURATION_PER_CHANNEL = False
    DEFAULT_ACTIVE = False

    DEFAULT_CONFIGURATION = [
        {"name": conf.ENABLED_CHANNELS, "value": ""},
        {"name": conf.REFUND_TO_CREDIT_BY_DEFAULT, "value": False},
        {"name": conf.MAX_BALANCE, "value": ""},
        {"name": conf.CREDIT_EXPIRY_DAYS, "value": ""},
        {
            "name": conf.HOLD_LIFETIME_MINUTES,
            "value": str(conf.DEFAULT_HOLD_LIFETIME_MINUTES),
        },
        {"name": conf.WEBHOOK_TARGETS, "value": ""},
        {"name": conf.WEBHOOK_SECRET, "value": ""},
        {"name": conf.NOTIFY_BALANCE_CHANGED, "value": True},
        {"name": conf.NOTIFY_CREDIT_MEMO, "value": True},
        {"name": conf.NOTIFY_EXPIRING, "value": False},
        {"name": conf.MIN_REIMBURSEMENT, "value": ""},
        {"name": conf.MIRROR_TO_METADATA, "value": True},
        {"name": conf.DEACTIVATE_REDEEMED_GIFT_CARDS, "value": False},
        {
            "name": conf.GIFT_CARD_ATTEMPTS_PER_HOUR,
            "value": str(conf.DEFAULT_GIFT_CARD_ATTEMPTS_PER_HOUR),
        },
        {
            "name": conf.GIFT_CARD_ATTEMPTS_PER_ADDRESS,
            "value": str(conf.DEFAULT_GIFT_CARD_ATTEMPTS_PER_ADDRESS),
        },
        {
            "name": conf.GIFT_CARD_ATTEMPTS_OVERALL,
            "value": str(conf.DEFAULT_GIFT_CARD_ATTEMPTS_OVERALL),
        },
        {"name": conf.CREDIT_CHANNELS, "value": ""},
        {"name": conf.CREDIT_FOUR_EYES, "value": False},
        {"name": conf.CREDIT_FORBID_DIRECT_EDITS, "value": False},
        {"name": conf.ON_ACCOUNT_CHANNELS, "value": ""},
        {"name": conf.CREDIT_COVER_CAPS_LIMIT, "value": False},
        {"name": conf.CREDIT_AUTO_RELEASE_CHANNELS, "value": "*"},
        # the plugin's own e-mails (saleor_store_credit/notifications)
        {"name": conf.NOTIFY_PAYOUTS, "value": True},
        {"name": conf.NOTIFY_ORDER_HOLDS, "value": True},
        {"name": conf.EMAIL_SENDER, "value": ""},
        {"name": conf.SMTP_HOST, "value": ""},
        {"name": conf.SMTP_PORT, "value": ""},
        {"name": conf.SMTP_USER, "value": ""},
        {"name": conf.SMTP_PASSWORD, "value": ""},
        {"name": conf.SMTP_USE_TLS, "value": False},
        {"name": conf.SMTP_USE_SSL, "value": False},
        *({"name": conf.EMAIL_TEMPLATE_PREFIX + event, "value": ""}
          for event in conf.EMAIL_EVENTS),
    ]
    CONFIG_STRUCTURE = {
        conf.ENABLED_CHANNELS: {
            "type": _S.STRING,
            "label": "Enabled channels",
            "help_text": "Channel slugs, comma-separated, where shoppers can pay "
            "with store credit. Empty: every channel.",
        },
        conf.REFUND_TO_CREDIT_BY_DEFAULT: {
            "type": _S.BOOLEAN,
            "label": "Refund to store credit by default",
            "help_text": "Credit memos are the default refund method.",
        },
        conf.MAX_BALANCE: {
            "type": _S.STRING,
            "label": "Maximum balance per account",
            "help_text": "Credits that would take a balance above this are refused. "
            "Empty: no maximum.",
        },
        conf.CREDIT_EXPIRY_DAYS: {
            "type": _S.STRING,
            "label": "Default expiry of issued credit (days)",
            "help_text": "Empty: credit never expires.",
        },
        conf.HOLD_LIFETIME_MINUTES: {
            "type": _S.STRING,
            "label": "Checkout hold lifetime (minutes)",
            "help_text": "Credit applied to a checkout is reserved this long.",
        },
        conf.WEBHOOK_TARGETS: {
            "type": _S.MULTILINE,
            "label": "Outgoing webhook URLs",
            "help_text": "One http(s) URL per line; store credit events are POSTed "
            "there, signed with the secret below.",
        },
        conf.WEBHOOK_SECRET: {
            "type": _S.SECRET,
            "label": "Webhook signing secret",
            "help_text": "HMAC-SHA256 key for the Store-Credit-Signature header; "
            "required as soon as webhook URLs are set.",
        },
        conf.NOTIFY_BALANCE_CHANGED: {
            "type": _S.BOOLEAN,
            "label": "Notify customers of balance changes",
            "help_text": "Sent when staff ask for it on an adjustment.",
        },
        conf.NOTIFY_CREDIT_MEMO: {
            "type": _S.BOOLEAN,
            "label": "Notify customers of credit memos",
            "help_text": "",
        },
        conf.NOTIFY_EXPIRING: {
            "type": _S.BOOLEAN,
            "label": "Notify customers of expiring credit",
            "help_text": "",
        },
        conf.MIN_REIMBURSEMENT: {
            "type": _S.STRING,
            "label": "Minimum reimbursement amount",
            "help_text": "Reimbursement runs pay out balances at or above this.",
        },
        conf.MIRROR_TO_METADATA: {
            "type": _S.BOOLEAN,
            "label": "Show balances in customer private metadata",
            "help_text": "Read-only copy (store_credit.balance.<CURRENCY>) so the "
            "Dashboard's customer page shows it. The ledger is the source of truth.",
        },
        conf.DEACTIVATE_REDEEMED_GIFT_CARDS: {
            "type": _S.BOOLEAN,
            "label": "Deactivate gift cards converted to store credit",
            "help_text": "A drained card is also switched off.",
        },
        conf.GIFT_CARD_ATTEMPTS_PER_HOUR: {
            "type": _S.STRING,
            "label": "Gift card conversion attempts per customer per hour",
            "help_text": "Failed code entries allowed before further tries are refused.",
        },
        conf.GIFT_CARD_ATTEMPTS_PER_ADDRESS: {
            "type": _S.STRING,
            "label": "Gift card conversion attempts per client address per hour",
            "help_text": "Failed code entries from one address (as Saleor determines "
            "it, X-Forwarded-For first), whatever the account, before further tries "
            "from it are refused.",
        },
        conf.GIFT_CARD_ATTEMPTS_OVERALL: {
            "type": _S.STRING,
            "label": "Gift card conversion attempts overall per hour",
            "help_text": "Failed code entries across all customers and addresses "
            "before every further try is refused for the rest of the hour.",
        },
        conf.CREDIT_CHANNELS: {
            "type": _S.STRING,
            "label": "Credit management channels",
            "help_text": "Channel slugs, comma-separated, where credit limits and "
            "blocking rules apply; * for every channel; empty: off. Orders are held "
            "for review only in channels that do not confirm new orders automatically.",
        },
        conf.CREDIT_FOUR_EYES: {
            "type": _S.BOOLEAN,
            "label": "Four-eyes approval for credit decisions",
            "help_text": "Limit adjustments and held-order releases need a second "
            "staff member's approval.",
        },
        conf.CREDIT_FORBID_DIRECT_EDITS: {
            "type": _S.BOOLEAN,
            "label": "Forbid direct credit limit edits",
            "help_text": "Limits change only through the adjustment journal.",
        },
        conf.ON_ACCOUNT_CHANNELS: {
            "type": _S.STRING,
            "label": "Pay on account channels",
            "help_text": "Channel slugs, comma-separated, where logged-in customers with "
            "a credit limit may pay on account (gateway saleor-store-credit.on-account); "
            "* for every channel; empty: off. Only in credit management channels.",
        },
        conf.CREDIT_COVER_CAPS_LIMIT: {
            "type": _S.BOOLEAN,
            "label": "Insurance and guarantees only cap the credit limit",
            "help_text": "Off: a customer's active insurance and guarantees are added to "
            "their limit. On: the limit is at most what is covered (for customers with "
            "any cover on record).",
        },
        conf.CREDIT_AUTO_RELEASE_CHANNELS: {
            "type": _S.STRING,
            "label": "Release ready orders automatically in channels",
            "help_text": "Channel slugs, comma-separated; * for every channel; empty: "
            "none. Elsewhere, a held order whose reasons are gone is marked 'ready to "
            "release' for staff. Forced credit holds are never released automatically.",
        },
        conf.NOTIFY_PAYOUTS: {
            "type": _S.BOOLEAN,
            "label": "E-mail customers when a payout is paid or failed",
            "help_text": "",
        },
        conf.NOTIFY_ORDER_HOLDS: {
            "type": _S.BOOLEAN,
            "label": "E-mail customers when an order is held for credit review or released",
            "help_text": "",
        },
        conf.EMAIL_SENDER: {
            "type": _S.STRING,
            "label": "E-mail sender",
            "help_text": "From address, e.g. Shop <shop@example.com>. Empty: Saleor's "
            "DEFAULT_FROM_EMAIL.",
        },
        conf.SMTP_HOST: {
            "type": _S.STRING,
            "label": "SMTP host",
            "help_text": "Mail server for store credit e-mails. Empty: Saleor's EMAIL_URL; "
            "with neither, e-mails are logged as skipped.",
        },
        conf.SMTP_PORT: {
            "type": _S.STRING,
            "label": "SMTP port",
            "help_text": "Empty: 465 with SSL, 587 with TLS, else 25.",
        },
        conf.SMTP_USER: {"type": _S.STRING, "label": "SMTP user", "help_text": ""},
        conf.SMTP_PASSWORD: {"type": _S.SECRET, "label": "SMTP password", "help_text": ""},
        conf.SMTP_USE_TLS: {
            "type": _S.BOOLEAN, "label": "SMTP: use STARTTLS", "help_text": "",
        },
        conf.SMTP_USE_SSL: {
            "type": _S.BOOLEAN, "label": "SMTP: use SSL", "help_text": "Not with STARTTLS.",
        },
        **{
            conf.EMAIL_TEMPLATE_PREFIX + event: {
                "type": _S.MULTILINE,
                "label": f"E-mail template: {event.replace('_', ' ')}",
                "help_text": "Empty: the shipped English, Dutch and Swedish templates. "
                "First line: the subject; then the plain-text body; optionally a line "
                "'--- html ---' and the HTML body. Django template language; "
                "{{ language }} is en, nl or sv.",
            }
            for event in conf.EMAIL_EVENTS
        },
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # checkout token -> whether the completion gate saw store credit on it; read
        # by `order_confirmed` in the same request (Saleor passes one manager, so one
        # plugin instance, from `checkoutComplete` through `order_created`)
        self._store_credit_seen: dict[str, bool] = {}
        # checkout token -> which of our gateways the completion gates found on it
        # (`gateway.gateways_on`), read by `order_created` in the same request
        self._gateways_seen: dict[str, frozenset] = {}
        self.settings = _parsed_settings(self.configuration)

    @classmethod
    def validate_plugin_configuration(cls, plugin_configuration, **kwargs):
        from saleor.plugins.error_codes import PluginErrorCode

        from .compat import unsupported_saleor_reason

        # Switching on is refused outside the supported Saleor versions, with the
        # reason on the Dashboard's switch (as Saleor's own plugins refuse
        # activation, e.g. saleor/plugins/openid_connect/plugin.py).
        if plugin_configuration.active and (reason := unsupported_saleor_reason()):
            raise ValidationError(
                {"active": ValidationError(
                    reason, code=PluginErrorCode.PLUGIN_MISCONFIGURED.value
                )}
            )
        try:
            conf.validate_for_saving(plugin_configuration.configuration)
        except ConfigurationError as exc:
            raise ValidationError({exc.field_name: ValidationError(str(exc))}) from None

    @classmethod
    def pre_save_plugin_configuration(cls, plugin_configuration):
        """Switching the plugin on settles what happened while it was off."""
        from django.db import transaction

        from saleor.plugins.models import PluginConfiguration

        was_active = PluginConfiguration.objects.filter(
            pk=plugin_configuration.pk
        ).values_list("active", flat=True).first()
        if plugin_configuration.active and not was_active:
            from .tasks import release_abandoned_store_credit_holds_task

            transaction.on_commit(release_abandoned_store_credit_holds_task.delay)

    # --- payments (saleor_store_credit.checkout) ----------------------------------

    def checkout_updated(self, checkout, previous_value, **_kwargs):
        from . import checkout as store_credit

        store_credit.follow_cart(checkout, plugins_manager())
        return previous_value

    def preprocess_order_creation(self, checkout_info, lines, previous_value):
        from . import checkout as store_credit

        from .checkout import on_account
        from .checkout.gateway import gateways_on

        # one look for both gates; a shopper who uses neither costs at most this one
        ours = gateways_on(checkout_info.checkout)
        if ours is not None:
            self._gateways_seen[str(checkout_info.checkout.pk)] = ours
        # before store credit's gate: store credit first, the rest on account (also
        # after pay on account was switched off: authorizations made before still count)
        on_account.prepare_completion(checkout_info, not_fully_paid=_not_fully_paid(
            "The payment on account on this checkout changed; review the payment "
            "and try again."), present=None if ours is None else on_account.ON_ACCOUNT_ID in ours)
        seen = store_credit.prepare_completion(
            checkout_info, not_fully_paid=_not_fully_paid(
                "The store credit on this checkout changed; review the payment and "
                "try again."
            ), present=None if ours is None else store_credit.GATEWAY_ID in ours,
        )
        if seen is not None:
            self._store_credit_seen[str(checkout_info.checkout.pk)] = seen
        if self.settings.credit_channels and self.settings.credit_checks_in(
            checkout_info.channel.slug
        ):
            from .credit import holds

            holds.check_checkout(checkout_info, self.settings)
        return previous_value

    def order_confirmed(self, order, previous_value, **_kwargs):
        from . import checkout as store_credit

        if self.settings.credit_channels:
            from .credit import holds

            holds.on_order_confirmed_or_cancelled(order, self.settings, confirmed=True)
        seen = self._store_credit_seen.pop(order.checkout_token or "", None)
        if store_credit.may_need_capture(order, store_credit_seen=seen):
            # charged by a worker after this commit: the shopper does not wait for it
            from django.db import transaction

            from .tasks import capture_store_credit_task

            order_id = str(order.pk)
            transaction.on_commit(lambda: capture_store_credit_task.delay(order_id))
        return previous_value

    def order_cancelled(self, order, previous_value, **_kwargs):
        from . import checkout as store_credit

        if self.settings.credit_channels:
            from .credit import holds

            holds.on_order_confirmed_or_cancelled(order, self.settings, confirmed=False)
        store_credit.release_for_cancelled_order(order)
        from .checkout import on_account

        on_account.release_for_cancelled_order(order)
        return previous_value

    # --- credit management (saleor_store_credit.credit) ---------------------------

    def order_created(self, order, previous_value, **_kwargs):
        from .checkout import on_account

        seen = self._gateways_seen.pop(order.checkout_token or "", None)
        if seen is None or on_account.ON_ACCOUNT_ID in seen:
            on_account.attach_to_order(order)
        if self.settings.credit_channels and self.settings.credit_checks_in(
            order.channel.slug
        ):
            from .credit import holds, terms

            terms.on_order_created(order, self.settings)
            holds.on_order_created(order, self.settings, plugins_manager)
        return previous_value

    def order_fulfilled(self, order, previous_value, **_kwargs):
        if self.settings.credit_channels:
            from .credit import terms

            terms.on_order_fulfilled(order)
        return previous_value

    def order_updated(self, order, previous_value, **_kwargs):
        from . import checkout as store_credit

        store_credit.follow_order(order, plugins_manager())
        from .checkout import on_account

        on_account.follow_order(order, plugins_manager())
        if self.settings.credit_channels and self.settings.credit_checks_in(
            order.channel.slug
        ):
            from .credit import holds

            holds.on_order_updated(order, self.settings, plugins_manager)
        return previous_value

    def transaction_cancelation_requested(self, transaction_data, previous_value):
        from . import checkout as store_credit

        if transaction_data.transaction.app_identifier == store_credit.GATEWAY_ID:
            store_credit.cancel_item(transaction_data.transaction, transaction_data.event)
        elif transaction_data.transaction.app_identifier == store_credit.ON_ACCOUNT_ID:
            from .checkout import on_account

            on_account.cancel_requested(transaction_data.transaction, transaction_data.event)
        return previous_value

    def transaction_refund_requested(self, transaction_data, previous_value):
        from . import checkout as store_credit

        if transaction_data.transaction.app_identifier == store_credit.GATEWAY_ID:
            store_credit.refund_item(transaction_data.transaction, transaction_data.event)
        elif transaction_data.transaction.app_identifier == store_credit.ON_ACCOUNT_ID:
            from .checkout import on_account

            on_account.refund_requested(transaction_data.transaction, transaction_data.event)
        return previous_value

    def transaction_charge_requested(self, transaction_data, previous_value):
        from . import checkout as store_credit

        if transaction_data.transaction.app_identifier == store_credit.GATEWAY_ID:
            store_credit.charge_requested(
                transaction_data.transaction, transaction_data.event
            )
        elif transaction_data.transaction.app_identifier == store_credit.ON_ACCOUNT_ID:
            from .checkout import on_account

            on_account.charge_requested(transaction_data.transaction, transaction_data.event)
        return previous_value

    def payment_gateway_initialize_session(
        self, amount, payment_gateways, source_object, previous_value
    ):
        from .checkout.gateway import advertise_gateway

        gateways = advertise_gateway(
            previous_value, payment_gateways, source_object, self.settings, self.requestor,
            plugins_manager(),
        )
        if self.settings.on_account_channels:
            from .checkout.on_account_gateway import advertise

            gateways = advertise(gateways, payment_gateways, source_object, self.settings,
                                 self.requestor, plugins_manager())
        return gateways

    def transaction_initialize_session(self, transaction_session_data, previous_value):
        """Store credit through Saleor's own `transactionInitialize` (checkout/native.py).
        Runs after WebhookPlugin, whose "no webhook" answer for the companion App it
        replaces; other gateways' results pass through."""
        from .checkout import GATEWAY_ID, ON_ACCOUNT_ID

        gateway = transaction_session_data.payment_gateway_data.app_identifier
        if gateway == ON_ACCOUNT_ID:
            from .checkout.on_account_gateway import initialize_session as on_account

            return on_account(
                transaction_session_data, settings=self.settings, requestor=self.requestor,
                manager=plugins_manager(),
            )
        if gateway != GATEWAY_ID:
            return previous_value
        from .checkout.native import initialize_session

        with conf.settings_scope(self.settings):
            return initialize_session(
                transaction_session_data, settings=self.settings,
                requestor=self.requestor, manager=plugins_manager(),
            )

    def webhook(self, request, path, previous_value):
        if path and path.rstrip("/") + "/" == GRAPHQL_PATH:
            from .graphql.view import handle_request

            return handle_request(request, self)
        from . import ui

        response = ui.serve(request, f"/plugins/global/{PLUGIN_ID}", path or "")
        return response if response is not None else HttpResponseNotFound()
