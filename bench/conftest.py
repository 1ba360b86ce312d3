"""Benchmarks run inside real Saleor with the same setup as tier 2 (its settings,
fixtures, API clients). They print figures and write artifacts/bench.json; they
assert correctness (no lost update, exact balances), never speed."""

import json
import os
from pathlib import Path

import pytest

from tests.integration.conftest import *  # noqa: F401,F403 (Saleor fixtures + ours)

RESULTS: list[dict] = []


@pytest.fixture
def report():
    def add(section: str, metric: str, value, unit: str = "", target: str = ""):
        RESULTS.append(
            {"section": section, "metric": metric, "value": value, "unit": unit,
             "target": target}
        )

    return add


def pytest_sessionfinish(session, exitstatus):
    if not RESULTS:
        return
    width = max(len(r["section"]) + len(r["metric"]) for r in RESULTS) + 3
    lines = ["", "Benchmarks (measured side by side in this run)", "-" * (width + 40)]
    for row in RESULTS:
        value = row["value"]
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        name = f"{row['section']}: {row['metric']}"
        target = f"   (target {row['target']})" if row["target"] else ""
        lines.append(f"{name:<{width}} {text:>12} {row['unit']}{target}")
    print("\n".join(lines))
    out = Path(os.environ.get("BENCH_OUTPUT", "artifacts/bench.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(RESULTS, indent=2, default=str))
