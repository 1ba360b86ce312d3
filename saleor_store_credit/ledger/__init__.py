"""The ledger's public facade: services write, selectors read, verify checks."""

from .actors import Actor
from .services import (
    Refs,
    adjust,
    capture_hold,
    credit,
    debit,
    expire_credit,
    expire_holds,
    get_or_create_account,
    place_hold,
    release_hold,
    resize_hold,
)
from .verify import ledger_verify

__all__ = [
    "Actor",
    "Refs",
    "adjust",
    "capture_hold",
    "credit",
    "debit",
    "expire_credit",
    "expire_holds",
    "get_or_create_account",
    "ledger_verify",
    "place_hold",
    "release_hold",
    "resize_hold",
]
