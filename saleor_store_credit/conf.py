"""The plugin's configuration (Dashboard → Configuration → Plugins → Store credit),
parsed once into a typed object. No Saleor imports: the ledger tier uses it too."""

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlparse

# Field names as stored in Saleor's PluginConfiguration rows.
ENABLED_CHANNELS = "enabled_channels"
REFUND_TO_CREDIT_BY_DEFAULT = "refund_to_store_credit_by_default"
MAX_BALANCE = "max_balance_per_account"
CREDIT_EXPIRY_DAYS = "default_credit_expiry_days"
HOLD_LIFETIME_MINUTES = "hold_lifetime_minutes"
WEBHOOK_TARGETS = "webhook_target_urls"
WEBHOOK_SECRET = "webhook_secret"
NOTIFY_BALANCE_CHANGED = "notify_balance_changed"
NOTIFY_CREDIT_MEMO = "notify_credit_memo"
NOTIFY_EXPIRING = "notify_credit_expiring"
MIN_REIMBURSEMENT = "minimum_reimbursement_amount"
MIRROR_TO_METADATA = "mirror_balance_to_private_metadata"
DEACTIVATE_REDEEMED_GIFT_CARDS = "deactivate_redeemed_gift_cards"
GIFT_CARD_ATTEMPTS_PER_HOUR = "gift_card_redeem_attempts_per_hour"
GIFT_CARD_ATTEMPTS_PER_ADDRESS = "gift_card_redeem_attempts_per_address_per_hour"
GIFT_CARD_ATTEMPTS_OVERALL = "gift_card_redeem_attempts_overall_per_hour"
CREDIT_CHANNELS = "credit_management_channels"
CREDIT_FOUR_EYES = "credit_four_eyes_approval"
CREDIT_FORBID_DIRECT_EDITS = "credit_forbid_direct_limit_edits"
ON_ACCOUNT_CHANNELS = "pay_on_account_channels"
# Insurance/guarantees and "evaluate for release" (credit/insurance.py, forced_hold.py).
CREDIT_COVER_CAPS_LIMIT = "credit_cover_caps_limit"
CREDIT_AUTO_RELEASE_CHANNELS = "credit_auto_release_channels"
# E-mails the plugin sends itself (saleor_store_credit/notifications).
NOTIFY_PAYOUTS = "notify_payout_status"
NOTIFY_ORDER_HOLDS = "notify_order_holds"
EMAIL_SENDER = "email_sender"
SMTP_HOST = "smtp_host"
SMTP_PORT = "smtp_port"
SMTP_USER = "smtp_username"
SMTP_PASSWORD = "smtp_password"
SMTP_USE_TLS = "smtp_use_tls"
SMTP_USE_SSL = "smtp_use_ssl"
EMAIL_EVENTS = (
    "balance_changed", "credit_memo_issued", "credit_expiring", "payout_paid",
    "payout_failed", "order_held", "order_released",
)
EMAIL_TEMPLATE_PREFIX = "email_template_"

DEFAULT_GIFT_CARD_ATTEMPTS_PER_HOUR = 5
# One attacker can open many accounts: failed tries are also limited per client
# address and over the whole shop.
DEFAULT_GIFT_CARD_ATTEMPTS_PER_ADDRESS = 20
DEFAULT_GIFT_CARD_ATTEMPTS_OVERALL = 200

DEFAULT_HOLD_LIFETIME_MINUTES = 24 * 60


class ConfigurationError(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field_name = field_name


def _decimal_or_none(name: str, raw) -> Decimal | None:
    if raw in (None, ""):
        return None
    from .errors import InvalidAmount
    from .money import read_decimal

    try:
        value = read_decimal(str(raw))
    except InvalidAmount:
        raise ConfigurationError(name, f"{name}: not a decimal number: {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ConfigurationError(name, f"{name}: must be a non-negative number")
    return value


def _int_or_none(name: str, raw, *, minimum: int) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigurationError(name, f"{name}: not a whole number: {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(name, f"{name}: must be at least {minimum}")
    return value


def _bool(raw) -> bool:
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() == "true"


def _lines(raw) -> list[str]:
    return [part.strip() for part in str(raw or "").replace(",", "\n").splitlines() if part.strip()]


@dataclass(frozen=True)
class EmailSettings:
    """Sender, SMTP server and template overrides for the plugin's own e-mails.
    Empty host/sender: Saleor's EMAIL_URL / DEFAULT_FROM_EMAIL (see notifications)."""

    sender: str = ""
    host: str = ""
    port: int | None = None
    username: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    templates: tuple[tuple[str, str], ...] = ()  # (event, override text)

    def template(self, event: str) -> str:
        return dict(self.templates).get(event, "")

    @classmethod
    def parse(cls, values: dict) -> "EmailSettings":
        use_tls = _bool(values.get(SMTP_USE_TLS, False))
        use_ssl = _bool(values.get(SMTP_USE_SSL, False))
        if use_tls and use_ssl:
            # Django's SMTP backend refuses both (django/core/mail/backends/smtp.py).
            raise ConfigurationError(SMTP_USE_SSL, "Use either TLS or SSL, not both.")
        port = _int_or_none(SMTP_PORT, values.get(SMTP_PORT), minimum=1)
        if port is not None and port > 65535:
            raise ConfigurationError(SMTP_PORT, f"{SMTP_PORT}: not a port number")
        return cls(
            sender=str(values.get(EMAIL_SENDER) or "").strip(),
            host=str(values.get(SMTP_HOST) or "").strip(),
            port=port,
            username=str(values.get(SMTP_USER) or ""),
            password=str(values.get(SMTP_PASSWORD) or ""),
            use_tls=use_tls,
            use_ssl=use_ssl,
            templates=tuple(
                (event, str(values.get(EMAIL_TEMPLATE_PREFIX + event) or ""))
                for event in EMAIL_EVENTS
                if str(values.get(EMAIL_TEMPLATE_PREFIX + event) or "").strip()
            ),
        )


@dataclass(frozen=True)
class StoreCreditSettings:
    enabled_channels: tuple[str, ...] = ()  # empty: every channel
    refund_to_store_credit_by_default: bool = False
    max_balance: Decimal | None = None
    credit_expiry_days: int | None = None
    hold_lifetime_minutes: int = DEFAULT_HOLD_LIFETIME_MINUTES
    webhook_targets: tuple[str, ...] = ()
    webhook_secret: str = ""
    notify_balance_changed: bool = True
    notify_credit_memo: bool = True
    notify_credit_expiring: bool = False
    minimum_reimbursement: Decimal | None = None
    mirror_to_metadata: bool = True
    deactivate_redeemed_gift_cards: bool = False
    gift_card_attempts_per_hour: int = DEFAULT_GIFT_CARD_ATTEMPTS_PER_HOUR
    gift_card_attempts_per_address: int = DEFAULT_GIFT_CARD_ATTEMPTS_PER_ADDRESS
    gift_card_attempts_overall: int = DEFAULT_GIFT_CARD_ATTEMPTS_OVERALL
    # Customer credit management: channel slugs, ("*",) for all, () for off.
    credit_channels: tuple[str, ...] = ()
    credit_four_eyes: bool = False
    credit_forbid_direct_edits: bool = False
    # "Pay on account" at checkout: channel slugs, ("*",) for all, () for off; only
    # where credit management applies too.
    on_account_channels: tuple[str, ...] = ()
    # insurance and guarantees only cap the customer's limit (default: they raise it)
    credit_cover_caps_limit: bool = False
    # channels where "evaluate for release" releases ready orders itself
    credit_auto_release_channels: tuple[str, ...] = ("*",)
    notify_payouts: bool = True
    notify_order_holds: bool = True
    email: "EmailSettings" = field(default_factory=lambda: EmailSettings())
    extra: dict = field(default_factory=dict)

    def channel_enabled(self, channel_slug: str | None) -> bool:
        return not self.enabled_channels or channel_slug in self.enabled_channels

    def credit_checks_in(self, channel_slug: str | None) -> bool:
        """Whether credit limits and blocking rules apply to orders in this channel."""
        return "*" in self.credit_channels or channel_slug in self.credit_channels

    def on_account_in(self, channel_slug: str | None) -> bool:
        """Whether customers with a credit limit may pay on account in this channel."""
        listed = "*" in self.on_account_channels or channel_slug in self.on_account_channels
        return listed and self.credit_checks_in(channel_slug)

    def credit_auto_release_in(self, channel_slug: str | None) -> bool:
        """Whether a held order whose reasons are gone is released without staff."""
        return ("*" in self.credit_auto_release_channels
                or channel_slug in self.credit_auto_release_channels)

    @classmethod
    def from_configuration(cls, configuration: list[dict]) -> "StoreCreditSettings":
        """Parse Saleor's `[{"name": ..., "value": ...}]`; raises ConfigurationError."""
        values = {item["name"]: item.get("value") for item in configuration or []}
        targets = tuple(_lines(values.get(WEBHOOK_TARGETS)))
        for url in targets:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigurationError(WEBHOOK_TARGETS, f"Not an http(s) URL: {url!r}")
        lifetime = _int_or_none(
            HOLD_LIFETIME_MINUTES, values.get(HOLD_LIFETIME_MINUTES), minimum=1
        )
        return cls(
            enabled_channels=tuple(_lines(values.get(ENABLED_CHANNELS))),
            refund_to_store_credit_by_default=_bool(
                values.get(REFUND_TO_CREDIT_BY_DEFAULT, False)
            ),
            max_balance=_decimal_or_none(MAX_BALANCE, values.get(MAX_BALANCE)),
            credit_expiry_days=_int_or_none(
                CREDIT_EXPIRY_DAYS, values.get(CREDIT_EXPIRY_DAYS), minimum=1
            ),
            hold_lifetime_minutes=lifetime or DEFAULT_HOLD_LIFETIME_MINUTES,
            webhook_targets=targets,
            webhook_secret=str(values.get(WEBHOOK_SECRET) or ""),
            notify_balance_changed=_bool(values.get(NOTIFY_BALANCE_CHANGED, True)),
            notify_credit_memo=_bool(values.get(NOTIFY_CREDIT_MEMO, True)),
            notify_credit_expiring=_bool(values.get(NOTIFY_EXPIRING, False)),
            minimum_reimbursement=_decimal_or_none(
                MIN_REIMBURSEMENT, values.get(MIN_REIMBURSEMENT)
            ),
            mirror_to_metadata=_bool(values.get(MIRROR_TO_METADATA, True)),
            deactivate_redeemed_gift_cards=_bool(
                values.get(DEACTIVATE_REDEEMED_GIFT_CARDS, False)
            ),
            gift_card_attempts_per_hour=_int_or_none(
                GIFT_CARD_ATTEMPTS_PER_HOUR,
                values.get(GIFT_CARD_ATTEMPTS_PER_HOUR),
                minimum=1,
            )
            or DEFAULT_GIFT_CARD_ATTEMPTS_PER_HOUR,
            gift_card_attempts_per_address=_int_or_none(
                GIFT_CARD_ATTEMPTS_PER_ADDRESS,
                values.get(GIFT_CARD_ATTEMPTS_PER_ADDRESS),
                minimum=1,
            )
            or DEFAULT_GIFT_CARD_ATTEMPTS_PER_ADDRESS,
            gift_card_attempts_overall=_int_or_none(
                GIFT_CARD_ATTEMPTS_OVERALL,
                values.get(GIFT_CARD_ATTEMPTS_OVERALL),
                minimum=1,
            )
            or DEFAULT_GIFT_CARD_ATTEMPTS_OVERALL,
            credit_channels=tuple(_lines(values.get(CREDIT_CHANNELS))),
            credit_four_eyes=_bool(values.get(CREDIT_FOUR_EYES, False)),
            credit_forbid_direct_edits=_bool(values.get(CREDIT_FORBID_DIRECT_EDITS, False)),
            on_account_channels=tuple(_lines(values.get(ON_ACCOUNT_CHANNELS))),
            credit_cover_caps_limit=_bool(values.get(CREDIT_COVER_CAPS_LIMIT, False)),
            # missing (a configuration saved before the setting existed): "*", as before
            credit_auto_release_channels=tuple(_lines(
                values.get(CREDIT_AUTO_RELEASE_CHANNELS, "*"))),
            notify_payouts=_bool(values.get(NOTIFY_PAYOUTS, True)),
            notify_order_holds=_bool(values.get(NOTIFY_ORDER_HOLDS, True)),
            email=EmailSettings.parse(values),
        )


def validate_for_saving(configuration: list[dict]) -> StoreCreditSettings:
    """What `pluginUpdate` may store: parseable, and no webhook target without a
    signing secret (receivers must be able to verify every delivery). Reading an
    older stored configuration stays lenient; delivery refuses to send unsigned."""
    parsed = StoreCreditSettings.from_configuration(configuration)
    if parsed.webhook_targets and not parsed.webhook_secret.strip():
        raise ConfigurationError(
            WEBHOOK_SECRET,
            "Set a webhook signing secret before adding webhook target URLs: "
            "receivers must be able to verify every delivery.",
        )
    from .notifications.templates import check_overrides

    check_overrides(parsed.email)
    return parsed


_scoped: ContextVar["StoreCreditSettings | None"] = ContextVar("store_credit_settings", default=None)


@contextmanager
def settings_scope(settings: "StoreCreditSettings | None"):
    """Let long jobs read the configuration once instead of once per event."""
    token = _scoped.set(settings)
    try:
        yield settings
    finally:
        _scoped.reset(token)


_CACHE_SECONDS = 5.0
_cache: dict = {}


def forget_settings(**_kwargs) -> None:
    """Drop the cached configuration (connected to PluginConfiguration saves)."""
    _cache.clear()


def load_settings() -> StoreCreditSettings | None:
    """The saved configuration of the active plugin, or None when it is inactive
    (or Saleor is not installed). For code that runs outside a plugin hook.

    Cached for a few seconds per process (ledger writes call this on every change);
    saving the configuration in this process clears the cache at once, other
    processes see the change within the cache time."""
    import time

    if (scoped := _scoped.get()) is not None:
        return scoped
    hit = _cache.get("settings")
    if hit is not None and time.monotonic() - hit[0] < _CACHE_SECONDS:
        return hit[1]
    value = _load_settings()
    _cache["settings"] = (time.monotonic(), value)
    return value


def _load_settings() -> StoreCreditSettings | None:
    from django.apps import apps

    if not apps.is_installed("saleor.plugins"):
        return None
    from saleor.plugins.models import PluginConfiguration

    from .plugin import PLUGIN_ID, StoreCreditPlugin

    row = PluginConfiguration.objects.filter(
        identifier=PLUGIN_ID, channel__isnull=True, active=True
    ).first()
    if row is None:
        return None
    saved = {item["name"]: item.get("value") for item in row.configuration or []}
    merged = [
        {"name": item["name"], "value": saved.get(item["name"], item["value"])}
        for item in StoreCreditPlugin.DEFAULT_CONFIGURATION
    ]
    try:
        return StoreCreditSettings.from_configuration(merged)
    except ConfigurationError:
        return StoreCreditSettings()
