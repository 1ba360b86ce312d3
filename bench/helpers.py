import statistics
import time
import uuid

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


def clone_checkout(checkout, checkout_delivery, user):
    """A fresh copy of a ready-to-complete checkout (same lines and addresses)."""
    from saleor.checkout.models import Checkout

    copy = Checkout.objects.get(pk=checkout.pk)
    copy.pk = None
    copy.token = uuid.uuid4()
    copy.user = user
    copy.email = user.email
    copy.shipping_address = checkout.shipping_address.get_copy()
    copy.billing_address = checkout.billing_address.get_copy()
    copy.save()
    for line in checkout.lines.all():
        line.pk = None
        line.id = None
        line.token = uuid.uuid4()
        line.checkout = copy
        line.save()
    copy.assigned_delivery = checkout_delivery(copy)
    copy.save()
    return copy
