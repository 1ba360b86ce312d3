"""Extension points. Receivers run inside the DB transaction of the change, so what
they write (e.g. the webhook outbox) commits or rolls back with it."""

from collections.abc import Callable

from django.dispatch import Signal

# sent with: event (str), data (dict, or a callable returning it), currency (str | None)
store_credit_event = Signal()

# Many events of one kind from one batch (a reimbursement batch): sent with event
# (str), items (a callable returning the list of data dicts), currency (str | None).
# Receivers of `store_credit_event` that want batches too connect here as well.
store_credit_events = Signal()

# What each of our receivers wants: event name -> will it write anything? A ledger
# write nobody wants to hear of needs no transaction around its one statement.
_wants: dict[str, Callable[[str], bool]] = {}


def listen(receiver, *, dispatch_uid: str, wants: Callable[[str], bool],
           batch_receiver=None) -> None:
    """Connect a receiver and say, cheaply, which events it acts on."""
    store_credit_event.connect(receiver, dispatch_uid=dispatch_uid)
    if batch_receiver is not None:
        store_credit_events.connect(batch_receiver, dispatch_uid=dispatch_uid)
    _wants[dispatch_uid] = wants


def event_wanted(event: str) -> bool:
    """Whether any receiver would act on `event` now. A receiver connected without
    `listen` (its wishes unknown) wants every event."""
    if len(store_credit_event.receivers) != len(_wants):
        return True
    return any(wants(event) for wants in _wants.values())
