import os
import statistics
import time
import traceback
from collections import Counter
from contextlib import contextmanager

from django.db import connection
from django.test.utils import CaptureQueriesContext


def measure(fn, label=None, worker=None, cpu=None):
    """(seconds, queries, result) of one request as the API process runs it.

    Celery runs tasks inline in Saleor's test settings (CELERY_TASK_ALWAYS_EAGER); in a
    deployment a worker runs them after the response. Their queries and time are
    left out of the request's figures and added to `worker` (a dict: queries,
    seconds, tasks) when given. `label`: also print the request's queries by call
    site when BENCH_PROFILE=1 (`query_sites`). `cpu` (a dict): gets "seconds", the
    CPU time this process spent on the request, inline tasks left out as well
    (PostgreSQL's work is not in it)."""
    from celery import signals

    inline = {"depth": 0, "start": 0.0, "first": 0, "queries": 0, "seconds": 0.0,
              "tasks": [], "cpu_start": 0.0, "cpu": 0.0}

    def started(task=None, **_kwargs):
        if inline["depth"] == 0:
            inline["start"] = time.perf_counter()
            inline["cpu_start"] = time.process_time()
            inline["first"] = len(queries.captured_queries)
            inline["tasks"].append(getattr(task, "name", "?"))
        inline["depth"] += 1

    def finished(**_kwargs):
        inline["depth"] -= 1
        if inline["depth"] == 0:
            inline["seconds"] += time.perf_counter() - inline["start"]
            inline["cpu"] += time.process_time() - inline["cpu_start"]
            inline["queries"] += len(queries.captured_queries) - inline["first"]

    signals.task_prerun.connect(started, weak=False)
    signals.task_postrun.connect(finished, weak=False)
    try:
        with query_sites(label) if label else _nothing(), \
                CaptureQueriesContext(connection) as queries:
            start, cpu_start = time.perf_counter(), time.process_time()
            result = fn()
            elapsed = time.perf_counter() - start
            cpu_elapsed = time.process_time() - cpu_start
    finally:
        signals.task_prerun.disconnect(started)
        signals.task_postrun.disconnect(finished)
    if cpu is not None:
        cpu["seconds"] = cpu_elapsed - inline["cpu"]
    if worker is not None:
        worker["queries"] = worker.get("queries", 0) + inline["queries"]
        worker["seconds"] = worker.get("seconds", 0.0) + inline["seconds"]
        worker.setdefault("tasks", []).extend(inline["tasks"])
    if label and inline["tasks"] and os.environ.get("BENCH_PROFILE"):
        print(f"  (in Celery tasks, left out: {inline['queries']} queries, "
              f"{', '.join(inline['tasks'])})")
    return (elapsed - inline["seconds"], len(queries.captured_queries) - inline["queries"],
            result)


@contextmanager
def _nothing():
    yield


def median(values):
    return statistics.median(values)


_SKIP = ("/django/", "/promise/", "/graphene/", "/graphql/core", "/contextlib.py",
         "/saleor/core/db/", "/saleor/core/tracing.py", "/opentelemetry/",
         "/bench/helpers.py", "/site-packages/", "/saleor/tests/")


def _call_site(stack, detail=False) -> str:
    """The innermost plugin frame that led to a query, else the innermost Saleor one;
    `detail`: the plugin frame and the innermost Saleor frame below it."""
    frames = [f for f in stack if not any(part in f.filename for part in _SKIP)]

    def saleor_site():
        for frame in reversed(frames):
            if "/saleor/" in frame.filename:
                path = frame.filename.rsplit("/saleor/", 1)[1]
                return f"saleor {path}:{frame.name}"
        return "other"

    for index in range(len(frames) - 1, -1, -1):
        frame = frames[index]
        if "/saleor_store_credit/" in frame.filename:
            path = frame.filename.split("/saleor_store_credit/", 1)[1]
            site = f"plugin {path}:{frame.name}"
            if detail and index < len(frames) - 1:
                site += f" > {saleor_site()}"
            return site
    return saleor_site()


@contextmanager
def query_sites(label: str):
    """With BENCH_PROFILE=1: print the queries run inside the block, grouped by the
    code that ran them (how the checkout figures were cut down); else nothing."""
    if not os.environ.get("BENCH_PROFILE"):
        yield
        return
    sites: Counter = Counter()

    def record(execute, sql, params, many, context):
        level = os.environ.get("BENCH_PROFILE")
        site = _call_site(traceback.extract_stack(), level in ("2", "3"))
        sites[site] += 1
        if level == "3":
            print(f"    {site}: {' '.join(sql.split())[:160]}")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield
    print(f"\n{label}: {sum(sites.values())} queries")
    for site, count in sites.most_common():
        print(f"  {count:4d}  {site}")


from tests.integration.fixtures import clone_checkout  # noqa: E402,F401
