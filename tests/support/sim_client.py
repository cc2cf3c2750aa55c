"""A plain HTTP client for the simulator's API (tests/simulator, tests/contract): raw requests, no
provider code, so the simulator is checked on its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

from hubassoc_simulator import DEFAULT_TOKEN

if TYPE_CHECKING:
    from hubassoc_simulator import Simulator


SIM_VERSIONS = ("2025-09", "2026-03", "2026-09", "v4")
SIM_DATE_VERSIONS = ("2025-09", "2026-03", "2026-09")


def sim_api_path(version: str, from_type: str, to_type: str, suffix: str) -> str:
    """The path of an association endpoint; v4 is the legacy `/crm/v4/associations/...` form."""
    if version == "v4":
        return f"/crm/v4/associations/{from_type}/{to_type}/{suffix}"
    return f"/crm/associations/{version}/{from_type}/{to_type}/{suffix}"


def label_inputs(items: list[tuple[str, str, list[tuple[str, int]]]]) -> dict[str, Any]:
    """The labels archive / batch create body for (from id, to id, [(category, type id)])."""
    return {
        "inputs": [
            {
                "from": {"id": f},
                "to": {"id": t},
                "types": [{"associationCategory": c, "associationTypeId": i} for c, i in types],
            }
            for f, t, types in items
        ]
    }


class SimClient:
    """A keep-alive session against one simulator, with the default token unless told otherwise."""

    def __init__(self, sim: Simulator, token: str | None = DEFAULT_TOKEN, version: str = "2026-03") -> None:
        self.sim = sim
        self.version = version
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def post(self, from_type: str, to_type: str, suffix: str, body: Any, **kw: Any) -> requests.Response:
        url = self.sim.url + sim_api_path(kw.pop("version", self.version), from_type, to_type, suffix)
        if isinstance(body, (bytes, str)):
            return self.session.post(url, data=body, headers={"Content-Type": "application/json"}, **kw)
        return self.session.post(url, json=body, **kw)

    def archive(
        self, pairs: list[tuple[str, list[str]]], ft: str = "contacts", tt: str = "companies", **kw: Any
    ) -> requests.Response:
        body = {"inputs": [{"from": {"id": f}, "to": [{"id": t} for t in tos]} for f, tos in pairs]}
        return self.post(ft, tt, "batch/archive", body, **kw)

    def archive_labels(
        self,
        f: str,
        t: str,
        types: list[tuple[str, int]],
        ft: str = "contacts",
        tt: str = "companies",
        **kw: Any,
    ) -> requests.Response:
        return self.post(ft, tt, "batch/labels/archive", label_inputs([(f, t, types)]), **kw)

    def create(
        self,
        items: list[tuple[str, str, list[tuple[str, int]]]],
        ft: str = "contacts",
        tt: str = "companies",
        **kw: Any,
    ) -> requests.Response:
        return self.post(ft, tt, "batch/create", label_inputs(items), **kw)

    def read(
        self, ids: list[str], ft: str = "contacts", tt: str = "companies", **kw: Any
    ) -> requests.Response:
        return self.post(ft, tt, "batch/read", {"inputs": [{"id": i} for i in ids]}, **kw)

    def labels(self, ft: str = "contacts", tt: str = "companies", **kw: Any) -> requests.Response:
        url = self.sim.url + sim_api_path(kw.pop("version", self.version), ft, tt, "labels")
        return self.session.get(url, **kw)
