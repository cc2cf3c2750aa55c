"""A fake reader whose batch read fails for some from records with an error that is not a
not-found (HubSpot's per-input errors): their associations are unknown, not absent."""

from __future__ import annotations

from collections.abc import Iterable

from airflow_provider_hubassoc.models.responses import AssociationReadResult, ReadError
from tests.support.readback import FakeReader

LOCKED = ReadError("LOCKED", "too many writes to this record, try again later")


class ErroringReader(FakeReader):
    """`failing` from ids get no result and a per-input error (as a 207 would carry them)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: dict[str, ReadError] = {}

    def read_associations(
        self, from_type: str, to_type: str, ids: Iterable[str | int]
    ) -> AssociationReadResult:
        read = super().read_associations(from_type, to_type, ids)
        for from_id, error in self.failing.items():
            if from_id in read.links:
                read.links[from_id] = ()
                read.failed[from_id] = error
        return read
