from decimal import Decimal

import pytest

from saleor_store_credit.errors import InvalidAmount, InvalidCurrency, StoreCreditErrorCode
from saleor_store_credit.money import parse_amount, parse_signed_amount


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("10", "USD", Decimal("10.00")),
        ("10.5", "USD", Decimal("10.50")),
        (Decimal("0.01"), "USD", Decimal("0.01")),
        (7, "USD", Decimal("7.00")),
        ("10.00", "JPY", Decimal("10")),
        ("1500", "JPY", Decimal("1500")),
        ("1.234", "KWD", Decimal("1.234")),
        (" 3.10 ", "usd", Decimal("3.10")),
        ("99999999999999999.99", "USD", Decimal("99999999999999999.99")),
    ],
)
def test_parse_amount_accepts_exact_decimals_quantized_to_the_currency(
    value, currency, expected
):
    # when
    amount = parse_amount(value, currency)

    # then
    assert amount == expected
    assert amount.as_tuple().exponent == expected.as_tuple().exponent


@pytest.mark.parametrize(
    ("value", "currency", "message_part"),
    [
        ("-1", "USD", "greater than zero"),
        ("0", "USD", "greater than zero"),
        ("0.00", "USD", "greater than zero"),
        # text is ASCII decimal only: no NaN, infinities, exponents, separators
        ("NaN", "USD", "Not a decimal"),
        (Decimal("NaN"), "USD", "finite"),
        ("sNaN", "USD", "Not a decimal"),
        ("Infinity", "USD", "Not a decimal"),
        ("-Infinity", "USD", "Not a decimal"),
        ("1e400", "USD", "Not a decimal"),
        ("1e30", "USD", "Not a decimal"),
        ("1E2", "USD", "Not a decimal"),
        ("\uff11\uff10", "USD", "Not a decimal"),  # full-width 10
        ("\u0661\u0660", "USD", "Not a decimal"),  # Arabic-Indic 10
        ("1_000", "USD", "Not a decimal"),
        ("1,00", "USD", "Not a decimal"),
        (".5", "USD", "Not a decimal"),
        ("5.", "USD", "Not a decimal"),
        ("0x10", "USD", "Not a decimal"),
        ("1" * 5000, "USD", "Not a decimal"),
        # JSON numbers arrive as Decimal: huge or tiny ones are refused, never a 500
        (Decimal("1E+400"), "USD", "more than 20 digits"),
        (Decimal("1E+30"), "USD", "more than 20 digits"),
        (Decimal("1E-400"), "USD", "at most 2 decimal places"),
        (10**400, "USD", "more than 20 digits"),
        (Decimal("Infinity"), "USD", "finite"),
        (10.5, "USD", "not a float"),
        (0.1, "USD", "not a float"),
        ("10.001", "USD", "at most 2 decimal places"),
        ("10.5", "JPY", "at most 0 decimal places"),
        ("1.2345", "KWD", "at most 3 decimal places"),
        ("123456789012345678901", "JPY", "more than 20 digits"),
        ("1234567890123456789.01", "USD", "more than 20 digits"),
        ("ten", "USD", "Not a decimal"),
        ("", "USD", "Not a decimal"),
        (None, "USD", "decimal number"),
        (True, "USD", "decimal number"),
        ([1], "USD", "decimal number"),
    ],
)
def test_parse_amount_refuses_inexact_or_malformed_amounts_with_a_code(
    value, currency, message_part
):
    # when
    with pytest.raises(InvalidAmount) as excinfo:
        parse_amount(value, currency)

    # then
    assert excinfo.value.code == StoreCreditErrorCode.INVALID_AMOUNT
    assert excinfo.value.field == "amount"
    assert message_part in excinfo.value.message


@pytest.mark.parametrize("currency", ["", "XYZ", "US", "usdd", None, 840])
def test_parse_amount_refuses_unknown_currencies(currency):
    with pytest.raises(InvalidCurrency) as excinfo:
        parse_amount("1", currency)
    assert excinfo.value.code == StoreCreditErrorCode.INVALID_CURRENCY


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-5", Decimal("-5.00")), ("5", Decimal("5.00")), (-3, Decimal("-3.00"))],
)
def test_parse_signed_amount_keeps_the_sign(value, expected):
    assert parse_signed_amount(value, "USD") == expected


@pytest.mark.parametrize(
    "value", ["--5", "-0", "-NaN", "-0.001", -0.5, "- 5", "-1e400", Decimal("-1E+400")]
)
def test_parse_signed_amount_refuses_bad_magnitudes(value):
    with pytest.raises(InvalidAmount):
        parse_signed_amount(value, "USD")


@pytest.mark.parametrize(
    "value", ["\uff10", "0e0", "-0.5", "1e400", Decimal("1E+400"), "abc"]
)
def test_parse_amount_or_zero_refuses_what_parse_amount_refuses(value):
    from saleor_store_credit.money import parse_amount_or_zero

    with pytest.raises(InvalidAmount):
        parse_amount_or_zero(value, "USD")


def test_parse_amount_or_zero_accepts_an_exact_zero():
    from saleor_store_credit.money import parse_amount_or_zero

    assert parse_amount_or_zero("0", "USD") == Decimal("0.00")
    assert parse_amount_or_zero(Decimal("0E+3"), "USD") == Decimal("0.00")
