"""What tier 2 says when Saleor is missing (importable without Saleor)."""

SKIP_REASON = (
    "tier 2 (integration) needs Saleor, which is not importable in this Python. "
    "Run `SALEOR_PYTHON=/path/to/saleor/venv/bin/python SALEOR_SRC=/path/to/saleor "
    "make test` (README, 'Running the tests')."
)
