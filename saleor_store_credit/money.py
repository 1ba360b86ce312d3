"""Parsing and quantizing money: Decimal only, exact, per-currency precision."""

from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision, list_currencies

from .errors import InvalidAmount, InvalidCurrency

MAX_DIGITS = 20
_KNOWN_CURRENCIES = frozenset(list_currencies())


def normalize_currency(currency, *, field: str = "currency") -> str:
    if not isinstance(currency, str) or not currency.strip():
        raise InvalidCurrency("Currency is required.", field=field)
    code = currency.strip().upper()
    if len(code) != 3 or code not in _KNOWN_CURRENCIES:
        raise InvalidCurrency(f"Unknown currency code: {currency!r}.", field=field)
    return code


def currency_precision(currency: str) -> int:
    return get_currency_precision(normalize_currency(currency))


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_precision(currency))


def parse_amount(value, currency: str, *, field: str = "amount") -> Decimal:
    """Return `value` as a positive Decimal quantized to the currency, or raise.

    Refused: floats (binary fractions are never exact money), bools, NaN, infinities,
    zero and negatives, more decimal places than the currency has, more than
    MAX_DIGITS digits in all.
    """
    precision = currency_precision(currency)
    if isinstance(value, bool) or value is None:
        raise InvalidAmount("Amount must be a decimal number.", field=field)
    if isinstance(value, float):
        raise InvalidAmount(
            "Amount must be an exact decimal (a string or integer), not a float.",
            field=field,
        )
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidAmount(f"Not a decimal number: {value!r}.", field=field) from None
    else:
        raise InvalidAmount("Amount must be a decimal number.", field=field)

    if not amount.is_finite():
        raise InvalidAmount("Amount must be a finite number.", field=field)
    if amount <= 0:
        raise InvalidAmount("Amount must be greater than zero.", field=field)
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > precision:
        raise InvalidAmount(
            f"{normalize_currency(currency)} amounts have at most {precision} "
            "decimal places.",
            field=field,
        )
    quantized = amount.quantize(Decimal(1).scaleb(-precision))
    if len(quantized.as_tuple().digits) > MAX_DIGITS:
        raise InvalidAmount(
            f"Amount has more than {MAX_DIGITS} digits.", field=field
        )
    return quantized


def parse_signed_amount(value, currency: str, *, field: str = "amount") -> Decimal:
    """Like parse_amount, but a leading minus is allowed (staff deductions)."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        negative = value < 0 if not (isinstance(value, Decimal) and value.is_nan()) else False
        magnitude = -value if negative else value
    elif isinstance(value, str) and value.strip().startswith("-"):
        negative, magnitude = True, value.strip()[1:]
    else:
        negative, magnitude = False, value
    amount = parse_amount(magnitude, currency, field=field)
    return -amount if negative else amount


def parse_amount_or_zero(value, currency: str, *, field: str = "amount") -> Decimal:
    """Like parse_amount, but an exact zero is allowed (a credit limit of 0 = no credit)."""
    if isinstance(value, (int, str, Decimal)) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite() and number == 0:
            return Decimal(0).quantize(quantum(currency))
    return parse_amount(value, currency, field=field)
