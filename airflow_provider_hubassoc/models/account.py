"""Which HubSpot account a token belongs to: recorded in each report, checked before an undo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AccountDetails(BaseModel):
    """The part of HubSpot's account-details reply we rely on (`/account-info/.../details`, or the
    legacy `/integrations/v1/me`): both carry `portalId`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    portal_id: int = Field(alias="portalId", ge=1)
    time_zone: str | None = Field(default=None, alias="timeZone")


@dataclass(frozen=True)
class Account:
    """An account as a report header records it: its `portalId`, or why it could not be read."""

    portal_id: int | None
    unknown_because: str | None = None

    @property
    def known(self) -> bool:
        return self.portal_id is not None

    def describe(self) -> str:
        return f"HubSpot account {self.portal_id}" if self.known else "an unknown HubSpot account"

    def to_json(self) -> dict[str, Any]:
        return {"portalId": self.portal_id, "unknownBecause": self.unknown_because}

    @classmethod
    def from_json(cls, value: Any) -> Account:
        """The header's `account`; a report written before accounts were recorded has none."""
        if not isinstance(value, dict):
            return cls(None, "the report does not record its account")
        portal = value.get("portalId")
        if isinstance(portal, int) and not isinstance(portal, bool) and portal > 0:
            return cls(portal)
        return cls(None, str(value.get("unknownBecause") or "the report does not record its account"))
