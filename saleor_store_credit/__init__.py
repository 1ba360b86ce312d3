"""Store credit for Saleor: an exact, audited ledger exposed as a Saleor plugin."""

__version__ = "0.1.0"
