import statistics
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext


def measure(fn):
    """(seconds, queries) of one call."""
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
    return elapsed, len(queries.captured_queries), result


def median(values):
    return statistics.median(values)


from tests.integration.fixtures import clone_checkout  # noqa: E402,F401
