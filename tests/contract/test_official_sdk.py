"""HubSpot's official SDK (hubspot-api-client 12, v4 paths only) still works against the simulator.

Archive, labels archive, batch read and labels: what users of the SDK run, against each v4 default
and the flipped v4 reply (200 with a body), which SDK 12 throws away.
"""

from __future__ import annotations

from typing import Any

import pytest

from hubassoc_simulator import DEFAULT_TOKEN, Simulator, SimulatorConfig, SimulatorState
from hubassoc_simulator.facts import ArchiveReply
from tests.fixtures.simulator import SimulatorFactory
from tests.support.sim_client import SimClient

H = "HUBSPOT_DEFINED"
U = "USER_DEFINED"


def _state() -> SimulatorState:
    state = SimulatorState()
    state.define_label("contacts", "companies", U, 36, "Decision maker")
    state.add_association("contacts", "1", "companies", "10", [(H, 279), (H, 1)])
    state.add_association("contacts", "2", "companies", "20")
    state.add_association("contacts", "3", "companies", "30", [(H, 279), (U, 36)])
    return state


def _sdk(sim: Simulator) -> Any:
    from hubspot import HubSpot

    return HubSpot(access_token=DEFAULT_TOKEN, host=sim.url).crm.associations.v4


@pytest.mark.parametrize("v4_archive_reply", ["204", "200"])
def test_official_sdk_archives_against_the_simulator(
    simulator_factory: SimulatorFactory, v4_archive_reply: ArchiveReply
) -> None:
    from hubspot.crm.associations.v4 import (
        AssociationSpec,
        BatchInputPublicAssociationMultiArchive,
        BatchInputPublicAssociationMultiPost,
        PublicAssociationMultiArchive,
        PublicAssociationMultiPost,
        PublicObjectId,
    )

    state = _state()
    sim: Simulator = simulator_factory(SimulatorConfig(archive_replies={"v4": v4_archive_reply}), state)
    api = _sdk(sim).batch_api

    labels_input = BatchInputPublicAssociationMultiPost(
        inputs=[
            PublicAssociationMultiPost(
                _from=PublicObjectId(id="1"),
                to=PublicObjectId(id="10"),
                types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
            )
        ]
    )
    assert api.archive_labels("contacts", "companies", labels_input) is None
    assert state.labels_of("contacts", "1", "companies", "10") == {("HUBSPOT_DEFINED", 279)}

    archive_input = BatchInputPublicAssociationMultiArchive(
        inputs=[PublicAssociationMultiArchive(_from=PublicObjectId(id="2"), to=[PublicObjectId(id="20")])]
    )
    assert api.archive("contacts", "companies", archive_input) is None, "SDK 12 throws any body away"
    assert not state.has_association("contacts", "2", "companies", "20")
    assert [r.path for r in sim.request_log] == [
        "/crm/v4/associations/contacts/companies/batch/labels/archive",
        "/crm/v4/associations/contacts/companies/batch/archive",
    ]
    assert SimClient(sim).read(["1"]).json()["results"][0]["to"][0]["toObjectId"] == "10"


def test_official_sdk_reads_associations_and_labels(simulator_factory: SimulatorFactory) -> None:
    from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
    from hubspot.crm.associations.v4.models import PublicFetchAssociationsBatchRequest

    sim: Simulator = simulator_factory(None, _state())
    v4 = _sdk(sim)
    request = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id="1"), PublicFetchAssociationsBatchRequest(id="3")]
    )
    page = v4.batch_api.get_page("contacts", "companies", request)
    by_from = {result._from.id: result.to for result in page.results}
    assert [to.to_object_id for to in by_from["1"]] == ["10"]
    assert sorted((t.type_id, t.label) for t in by_from["3"][0].association_types) == [
        (36, "Decision maker"),
        (279, None),
    ]
    labels = v4.schema.definitions_api.get_all("contacts", "companies")
    assert (36, "Decision maker") in [(d.type_id, d.label) for d in labels.results]
    assert (279, None) in [(d.type_id, d.label) for d in labels.results], "label absent is fine for the SDK"
    assert [r.path for r in sim.request_log] == [
        "/crm/v4/associations/contacts/companies/batch/read",
        "/crm/v4/associations/contacts/companies/labels",
    ]
