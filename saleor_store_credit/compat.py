"""The one place that knows how Saleor's internals differ between the supported
versions. Everything version-dependent the plugin calls goes through here."""


def refresh_order_prices(order, manager) -> None:
    """Recalculate an editable order's prices if Saleor marked them stale (in place).
    Saleor defers repricing after edits (`should_refresh_prices`)."""
    from saleor.order.calculations import fetch_order_prices_if_expired

    fetch_order_prices_if_expired(order, manager, None).get()
