"""Who is calling: the same user JWTs and app tokens Saleor's own API accepts."""

from saleor.graphql.app.dataloaders import get_app_promise
from saleor.graphql.context import get_context_value, get_user
from saleor.permission.utils import all_permissions_required

from ..errors import PermissionDenied
from ..ledger import Actor


def authenticate(request):
    """Attach `app` and `user` to the request exactly as Saleor's GraphQL view does.

    Saleor only resolves apps on its own API path, so the app is loaded here first;
    an app token wins over a user JWT, as in Saleor.
    """
    request.dataloaders = {}
    if not hasattr(request, "app"):
        request.app = get_app_promise(request).get()
    context = get_context_value(request)
    if not request.app:
        user = get_user(context)  # raises on a bad/expired JWT, like Saleor
        context.user = user if user and user.is_active else None
    else:
        context.user = None
    return context


def require(context, permissions) -> None:
    if not all_permissions_required(context, permissions):
        names = ", ".join(permission.name for permission in permissions)
        raise PermissionDenied(
            "You do not have permission to perform this action. "
            f"Requires: {names}."
        )


def actor_for(context) -> Actor:
    if getattr(context, "app", None):
        return Actor.for_app(context.app)
    return Actor.for_user(context.user)


def caller_key(context) -> str:
    """Who is calling, for scoping what they send (idempotency keys)."""
    if getattr(context, "app", None):
        return f"app:{context.app.pk}"
    if getattr(context, "user", None):
        return f"user:{context.user.pk}"
    return "anonymous"


def is_staff_context(context) -> bool:
    return bool(getattr(context, "app", None)) or bool(
        getattr(context, "user", None) and context.user.is_staff
    )


# --- channel access -------------------------------------------------------------------------
# Staff permission groups can be restricted to some channels. The plugin applies Saleor's
# rule to everything that belongs to an order, exactly as Saleor's order mutations and
# queries do: `BaseMutation.check_channel_permissions` (saleor/graphql/core/mutations.py)
# for writes, `resolve_orders` (saleor/graphql/order/resolvers.py) for lists; apps have
# access to every channel; the accessible channels come from Saleor's own
# `get_user_accessible_channels` (saleor/graphql/account/utils.py).

CHANNEL_DENIED = "You don't have access to some objects' channel."


class _Info:
    """What `get_user_accessible_channels(info, user)` reads: `info.context`."""

    def __init__(self, context):
        self.context = context


def accessible_channels(context):
    """The caller's accessible Saleor channels, or None for every channel (apps)."""
    from saleor.graphql.account.utils import get_user_accessible_channels

    if getattr(context, "app", None):
        return None
    # read from the writer, as Saleor's mutations do (they run with allow_replica off):
    # a staff member just moved out of a channel must not keep it through replica lag
    allow_replica = getattr(context, "allow_replica", False)
    context.allow_replica = False
    try:
        return list(
            get_user_accessible_channels(_Info(context), getattr(context, "user", None))
        )
    finally:
        context.allow_replica = allow_replica


def check_channel_access(context, channel_ids) -> None:
    """Refuse (PermissionDenied, Saleor's message) when any channel is out of reach."""
    channels = accessible_channels(context)
    if channels is None:
        return
    allowed = {str(channel.id) for channel in channels}
    if {str(channel_id) for channel_id in channel_ids} - allowed:
        raise PermissionDenied(CHANNEL_DENIED)


def check_channel_slug_access(context, slug) -> None:
    """A channel filter naming a channel the caller cannot access (as `orders(channel:)`)."""
    channels = accessible_channels(context)
    if channels is not None and slug and slug not in {channel.slug for channel in channels}:
        raise PermissionDenied(f"You do not have access to the {slug} channel.")


def check_order_channel_access(context, order_id) -> None:
    """Channel access to one Saleor order; an unknown order is left to the caller."""
    from saleor.order.models import Order

    if getattr(context, "app", None):
        return
    channel_id = Order.objects.filter(pk=order_id).values_list("channel_id", flat=True).first()
    if channel_id is not None:
        check_channel_access(context, [channel_id])


def accessible_orders(context):
    """A subquery of the order IDs the caller may see, or None for all (apps)."""
    from saleor.order.models import Order

    channels = accessible_channels(context)
    if channels is None:
        return None
    return Order.objects.filter(channel_id__in=[c.id for c in channels]).values("id")
