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
