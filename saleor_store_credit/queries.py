"""Small query builders shared by the checkout and order paths."""

from decimal import Decimal

from django.db.models import DecimalField, Func, Subquery
from django.db.models.functions import Coalesce

MONEY = DecimalField(max_digits=20, decimal_places=3)


def scalar(queryset, function: str, expression, output_field=MONEY, default=None):
    """`(SELECT function(expression) FROM queryset)` as a subquery of one value: a
    Func, not an aggregate, so Django adds no GROUP BY. `default` replaces NULL
    (an empty set)."""
    value = Func(expression, function=function, output_field=output_field)
    subquery = Subquery(queryset.order_by().annotate(value=value).values("value")[:1],
                        output_field=output_field)
    if default is None:
        return subquery
    return Coalesce(subquery, Decimal(default) if output_field is MONEY else default,
                    output_field=output_field)
