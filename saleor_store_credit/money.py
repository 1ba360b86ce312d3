"""Parsing and quantizing money: Decimal only, exact, per-currency precision."""

import re
from decimal import Decimal

from babel.numbers import get_currency_precision, list_currencies

from .errors import InvalidAmount, InvalidCurrency

MAX_DIGITS = 20
# Text amounts: plain ASCII decimals only. Exponents ("1e400"), digit separators
# ("1_000") and non-ASCII digits ("１０", "١٠") are refused, although Python's
# Decimal() accepts them all. JSON numbers arrive as Decimal or int already.
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?", re.ASCII)
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


def read_decimal(value, *, field: str = "amount") -> Decimal:
    """The exact number in `value`: an int, a Decimal (JSON numbers arrive so) or
    ASCII decimal text `[+-]digits[.digits]`. Anything else is INVALID_AMOUNT.
    Floats are refused: binary fractions are never exact money."""
    if isinstance(value, bool) or value is None:
        raise InvalidAmount("Amount must be a decimal number.", field=field)
    if isinstance(value, float):
        raise InvalidAmount(
            "Amount must be an exact decimal (a string or integer), not a float.",
            field=field,
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        text = value.strip(" \t")
        if len(text) > 2 * MAX_DIGITS + 2 or not _DECIMAL_TEXT.fullmatch(text):
            raise InvalidAmount(f"Not a decimal number: {value[:50]!r}.", field=field)
        return Decimal(text)
    raise InvalidAmount("Amount must be a decimal number.", field=field)


def _quantized(amount: Decimal, currency: str, *, field: str) -> Decimal:
    """A finite amount with at most the currency's decimals and MAX_DIGITS digits."""
    precision = currency_precision(currency)
    if not amount.is_finite():
        raise InvalidAmount("Amount must be a finite number.", field=field)
    # Magnitude before quantizing: quantizing 1E+400 overflows Decimal's context.
    if amount and amount.adjusted() + 1 + precision > MAX_DIGITS:
        raise InvalidAmount(f"Amount has more than {MAX_DIGITS} digits.", field=field)
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > precision:
        raise InvalidAmount(
            f"{normalize_currency(currency)} amounts have at most {precision} "
            "decimal places.",
            field=field,
        )
    return amount.quantize(Decimal(1).scaleb(-precision))


def parse_amount(value, currency: str, *, field: str = "amount") -> Decimal:
    """Return `value` as a positive Decimal quantized to the currency, or raise.

    Refused: anything `read_decimal` refuses, NaN, infinities, zero and negatives,
    more decimal places than the currency has, more than MAX_DIGITS digits in all.
    """
    amount = read_decimal(value, field=field)
    if amount.is_finite() and amount <= 0:
        raise InvalidAmount("Amount must be greater than zero.", field=field)
    return _quantized(amount, currency, field=field)


def parse_signed_amount(value, currency: str, *, field: str = "amount") -> Decimal:
    """Like parse_amount, but negative amounts are allowed (staff deductions)."""
    amount = read_decimal(value, field=field)
    if amount.is_finite() and amount == 0:
        raise InvalidAmount("Amount must not be zero.", field=field)
    return _quantized(amount, currency, field=field)


def parse_amount_or_zero(value, currency: str, *, field: str = "amount") -> Decimal:
    """Like parse_amount, but an exact zero is allowed (a credit limit of 0 = no credit)."""
    amount = read_decimal(value, field=field)
    if amount.is_finite() and amount < 0:
        raise InvalidAmount("Amount must not be negative.", field=field)
    return _quantized(amount, currency, field=field)
