"""JSON in and out without ever passing money through a binary float."""

import json
from decimal import Decimal


def loads(body: bytes | str):
    # JSON numbers become Decimal (exact); NaN/Infinity become Decimal too, so the
    # money parser can refuse them with a proper error code.
    return json.loads(body, parse_float=Decimal, parse_constant=Decimal)


def dumps(value) -> str:
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        out.append(str(value) if value.is_finite() else "null")
    elif value is None or isinstance(value, (bool, int, float, str)):
        out.append(json.dumps(value))
    else:
        out.append(json.dumps(str(value)))
