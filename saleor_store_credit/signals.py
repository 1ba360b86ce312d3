"""Extension points. Receivers run inside the DB transaction of the change, so what
they write (e.g. the webhook outbox) commits or rolls back with it."""

from django.dispatch import Signal

# sent with: event (str), data (dict, or a callable returning it), currency (str | None)
store_credit_event = Signal()
