"""One error hierarchy for the whole plugin; GraphQL maps `code` to its error enum."""

from enum import Enum


class StoreCreditErrorCode(str, Enum):
    INVALID = "invalid"
    REQUIRED = "required"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_CURRENCY = "invalid_currency"
    CURRENCY_MISMATCH = "currency_mismatch"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    BALANCE_LIMIT_EXCEEDED = "balance_limit_exceeded"
    HOLD_NOT_ACTIVE = "hold_not_active"
    HOLD_AMOUNT_EXCEEDED = "hold_amount_exceeded"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    CHANNEL_NOT_ENABLED = "channel_not_enabled"
    CHECKOUT_LOCKED = "checkout_locked"
    NOTHING_TO_PAY = "nothing_to_pay"
    TRANSACTION_LIMIT_REACHED = "transaction_limit_reached"
    INVALID_GIFT_CARD = "invalid_gift_card"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    GUEST_ORDER = "guest_order"
    REFUND_EXCEEDS_PAID = "refund_exceeds_paid"
    PAYOUT_NOT_PENDING = "payout_not_pending"
    INVALID_STATUS = "invalid_status"
    FOUR_EYES_REQUIRED = "four_eyes_required"
    DIRECT_EDIT_FORBIDDEN = "direct_edit_forbidden"
    ORDER_NOT_HELD = "order_not_held"
    CANNOT_CANCEL_ORDER = "cannot_cancel_order"
    ACCOUNT_NOT_ORPHANED = "account_not_orphaned"
    CREDIT_NOT_AVAILABLE = "credit_not_available"
    CREDIT_BLOCKED = "credit_blocked"


class StoreCreditError(Exception):
    code = StoreCreditErrorCode.INVALID
    default_field: str | None = None

    def __init__(self, message: str, *, field: str | None = None, code=None):
        super().__init__(message)
        self.message = message
        self.field = field if field is not None else self.default_field
        if code is not None:
            self.code = code


class InvalidAmount(StoreCreditError):
    code = StoreCreditErrorCode.INVALID_AMOUNT
    default_field = "amount"


class InvalidCurrency(StoreCreditError):
    code = StoreCreditErrorCode.INVALID_CURRENCY
    default_field = "currency"


class CurrencyMismatch(StoreCreditError):
    code = StoreCreditErrorCode.CURRENCY_MISMATCH
    default_field = "currency"


class InsufficientFunds(StoreCreditError):
    code = StoreCreditErrorCode.INSUFFICIENT_FUNDS
    default_field = "amount"


class BalanceLimitExceeded(StoreCreditError):
    code = StoreCreditErrorCode.BALANCE_LIMIT_EXCEEDED
    default_field = "amount"


class HoldNotActive(StoreCreditError):
    code = StoreCreditErrorCode.HOLD_NOT_ACTIVE


class HoldAmountExceeded(StoreCreditError):
    code = StoreCreditErrorCode.HOLD_AMOUNT_EXCEEDED
    default_field = "amount"


class IdempotencyKeyReused(StoreCreditError):
    code = StoreCreditErrorCode.IDEMPOTENCY_KEY_REUSED
    default_field = "idempotencyKey"


class NotFound(StoreCreditError):
    code = StoreCreditErrorCode.NOT_FOUND


class PermissionDenied(StoreCreditError):
    code = StoreCreditErrorCode.PERMISSION_DENIED
