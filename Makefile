.PHONY: test smoke demo bench e2e

# The one test command. Tier 2 runs when SALEOR_PYTHON (and SALEOR_SRC for a source
# checkout) point at a Saleor 3.23 environment; see README.
test:
	bash scripts/test

# Against a real Saleor server (SALEOR_PYTHON, SALEOR_SRC): migrate, start the API,
# check the plugin is listed and its endpoint answers.
smoke:
	mkdir -p artifacts && python3 scripts/smoke.py

# The storefront + staff scenario over HTTP against a real Saleor (README "Demo").
demo:
	mkdir -p artifacts && python3 scripts/demo.py

# Benchmarks against real Saleor and PostgreSQL (README "Benchmarks").
bench:
	bash bench/run

# Browser tests only (also tier 3 of `make test` when SALEOR_PYTHON is set).
e2e:
	bash scripts/e2e
