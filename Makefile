.PHONY: test test-saleor

# The one test command. Tier 2 runs when SALEOR_PYTHON (and SALEOR_SRC for a source
# checkout) point at a Saleor 3.23 environment; see README.
test:
	bash scripts/test
