from dataclasses import dataclass

from ..models import ActorType


@dataclass(frozen=True)
class Actor:
    """Who caused a ledger change; stored on every entry as a snapshot."""

    type: str
    id: str = ""
    label: str = ""

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(ActorType.SYSTEM, "", label)

    @classmethod
    def for_user(cls, user) -> "Actor":
        kind = ActorType.STAFF if getattr(user, "is_staff", False) else ActorType.CUSTOMER
        return cls(kind, str(user.pk), getattr(user, "email", "") or str(user.pk))

    @classmethod
    def for_app(cls, app) -> "Actor":
        return cls(ActorType.APP, str(app.pk), getattr(app, "name", "") or str(app.pk))

    def entry_fields(self) -> dict:
        return {"actor_type": self.type, "actor_id": self.id, "actor_label": self.label}
