"""Tier 2: tests that run inside a real Saleor (its settings, models, fixtures, API).

Saleor's own root conftest is not part of its installed package, so what it does is
repeated here: both DB aliases, the fake replica, and its fixture modules.
Without Saleor every module here skips with `_saleor.SKIP_REASON`.
"""

import importlib.util


SALEOR_AVAILABLE = importlib.util.find_spec("saleor") is not None

if SALEOR_AVAILABLE:
    import django.test
    from django.conf import settings

    from saleor.tests.utils import prepare_test_db_connections

    _DATABASES = {
        settings.DATABASE_CONNECTION_DEFAULT_NAME,
        settings.DATABASE_CONNECTION_REPLICA_NAME,
    }
    django.test.TransactionTestCase.databases = _DATABASES
    django.test.TestCase.databases = _DATABASES
    prepare_test_db_connections()

    pytest_plugins = [
        "saleor.tests.fixtures",
        "saleor.app.tests.fixtures",
        "saleor.plugins.tests.fixtures",
        "saleor.graphql.tests.fixtures",
        "saleor.webhook.tests.fixtures",
        "saleor.tax.tests.fixtures",
        "saleor.channel.tests.fixtures",
        "saleor.page.tests.fixtures",
        "saleor.menu.tests.fixtures",
        "saleor.warehouse.tests.fixtures",
        "saleor.thumbnail.tests.fixtures",
        "saleor.order.tests.fixtures",
        "saleor.product.tests.fixtures",
        "saleor.site.tests.fixtures",
        "saleor.shipping.tests.fixtures",
        "saleor.permission.tests.fixtures",
        "saleor.giftcard.tests.fixtures",
        "saleor.discount.tests.fixtures",
        "saleor.checkout.tests.fixtures",
        "saleor.attribute.tests.fixtures",
        "saleor.account.tests.fixtures",
        "saleor.graphql.account.tests.fixtures",
        "saleor.payment.tests.fixtures",
        "saleor.webhook.tests.circuit_breaker.fixtures",
    ]

    from .fixtures import *  # noqa: F401,F403
