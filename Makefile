.PHONY: test smoke demo bench bench-quick bench-load bench-deep e2e fuzz acceptance

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

# Benchmarks against real Saleor and PostgreSQL (README "Benchmarks"), the scale run
# at 1 000 000 accounts included (one table; about 8 minutes on a quiet 2-core machine,
# 3 GB of disk while it runs). `make bench-quick` leaves the scale run out.
bench:
	bash bench/run -o python_files='bench_*.py deep_*.py' -o python_functions='bench_* deep_*'

bench-quick:
	bash bench/run

# Checkout under concurrent load over HTTP against a real Saleor (README "Benchmarks").
LOAD_SHOPPERS ?= 40
LOAD_ROUNDS ?= 4
bench-load:
	mkdir -p artifacts && timeout 1800 python3 bench/load.py --shoppers $(LOAD_SHOPPERS) --rounds $(LOAD_ROUNDS)

# Only the ledger at 1 000 000 accounts / 10 000 000 entries (README "Benchmarks"):
# about 6 minutes on a quiet machine (25-50 on a loaded one) and 3 GB of disk while it
# runs.
bench-deep:
	bash bench/run -o python_files='deep_*.py' -o python_functions='deep_*'

# Browser tests only (also tier 3 of `make test` when SALEOR_PYTHON is set).
e2e:
	bash scripts/e2e

# The tier-2 lifecycle model test, deep (README "Running the tests"). Needs SALEOR_PYTHON.
FUZZ_EXAMPLES ?= 300
FUZZ_STEPS ?= 40
fuzz:
	TIER2_ONLY=1 SKIP_E2E=1 SC_MODEL_EXAMPLES=$(FUZZ_EXAMPLES) SC_MODEL_STEPS=$(FUZZ_STEPS) \
	  bash scripts/test -k test_money_stays_right_whatever_happens -s -p no:logging

# The README's promises in the field: a real Saleor with several API workers, a Celery
# worker, beat and SMTP on loopback, driven over HTTP (README "Acceptance suite").
acceptance:
	bash scripts/acceptance
