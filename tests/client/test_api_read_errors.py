"""Batch read's per-input errors: only a not-found says a record has no associations.

HubSpot sends per-input errors in a 207 (or, since 2026-09, inside a 200). A record whose read
failed for any other reason (a lock, an internal error, a rate limit on one input) may still have
every association: its ids must come back as failed, with the error, never as "nothing links it".
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

from airflow_provider_hubassoc.models.responses import (
    READ_ERROR_MESSAGE_CHARS,
    ReadState,
    link_to_id,
    link_types,
)
from tests.support.client_doubles import CLIENT_TOKEN as TOKEN
from tests.support.client_doubles import READ_URL, ClientFactory, batch_body


def error_item(category: str, message: str, context: dict[str, list[str]], **extra: Any) -> dict[str, Any]:
    return {"status": "error", "category": category, "message": message, "context": context, "errors": [],
            "links": {}, **extra}  # fmt: skip


def result(from_id: str, *to_ids: str) -> dict[str, Any]:
    types = [{"category": "HUBSPOT_DEFINED", "typeId": 279}]
    return {"from": {"id": from_id}, "to": [{"toObjectId": t, "associationTypes": types} for t in to_ids]}


@pytest.mark.parametrize("status", [200, 207])
@pytest.mark.parametrize(
    "category", ["INTERNAL_ERROR", "LOCKED", "RATE_LIMITS", "VALIDATION_ERROR", "SOMETHING_NEW"]
)
def test_an_error_other_than_not_found_leaves_the_record_unread(
    requests_mock: Any, make_client: ClientFactory, status: int, category: str
) -> None:
    errors = [error_item(category, "try again later", {"fromObjectId": ["2"]})]
    requests_mock.post(
        READ_URL, status_code=status, json=batch_body(results=[result("1", "10")], errors=errors)
    )

    read = make_client().read_associations("contacts", "companies", ["1", "2", "3"])

    assert read.state("1") is ReadState.READ
    assert read.state("3") is ReadState.READ  # no result and no error: nothing links it
    assert read.state("2") is ReadState.ERRORED
    error = read.error_of("2")
    assert error is not None
    assert (error.category, error.message) == (category, "try again later")
    assert set(read.failed) == {"2"}


@pytest.mark.parametrize(
    "item",
    [
        error_item("OBJECT_NOT_FOUND", "No contacts with id 2 exist", {"ids": ["2"]}),
        error_item(
            "OBJECT_NOT_FOUND",
            "No companies is associated with contacts 2.",
            {"fromObjectId": ["2"]},
            subCategory={"code": "crm.associations.NO_ASSOCIATIONS_FOUND"},
        ),
        # the v4 sub-category alone says it, whatever the category, as an object or a string
        error_item(
            "VALIDATION_ERROR",
            "none",
            {"fromObjectId": ["2"]},
            subCategory="crm.associations.NO_ASSOCIATIONS_FOUND",
        ),
    ],
)
def test_only_a_not_found_error_means_nothing_links_the_record(
    requests_mock: Any, make_client: ClientFactory, item: dict[str, Any]
) -> None:
    requests_mock.post(READ_URL, status_code=207, json=batch_body(results=[result("1", "10")], errors=[item]))

    read = make_client().read_associations("contacts", "companies", ["1", "2"])

    assert read.state("2") is ReadState.NOT_FOUND
    assert read.failed == {}
    assert read.links["2"] == ()


def test_an_error_naming_no_input_leaves_every_unanswered_id_unread(
    requests_mock: Any, make_client: ClientFactory
) -> None:
    errors = [error_item("INTERNAL_ERROR", "something went wrong", {})]
    requests_mock.post(READ_URL, status_code=207, json=batch_body(results=[result("1", "10")], errors=errors))

    read = make_client().read_associations("contacts", "companies", ["1", "2", "3"])

    assert read.state("1") is ReadState.READ  # answered: its associations are known
    assert {i: read.state(i) for i in ("2", "3")} == {"2": ReadState.ERRORED, "3": ReadState.ERRORED}


def test_an_error_on_a_later_page_leaves_the_record_unread(
    requests_mock: Any, make_client: ClientFactory
) -> None:
    first = {**result("1", "10"), "paging": {"next": {"after": "MC0yLTE1OTc0MDA2NTg%3D"}}}
    second = batch_body(errors=[error_item("INTERNAL_ERROR", "page lost", {"fromObjectId": ["1"]})])
    requests_mock.post(
        READ_URL,
        [{"status_code": 200, "json": batch_body(results=[first])}, {"status_code": 207, "json": second}],
    )

    read = make_client().read_associations("contacts", "companies", ["1"])

    assert read.state("1") is ReadState.ERRORED  # half its associations were never read


def test_the_error_carried_is_bounded_and_holds_no_token(
    requests_mock: Any, make_client: ClientFactory
) -> None:
    message = f"token {TOKEN} refused; " + "x" * 5000
    errors = [error_item("INTERNAL_ERROR", message, {"fromObjectId": ["2"]})]
    requests_mock.post(READ_URL, status_code=207, json=batch_body(errors=errors))

    read = make_client().read_associations("contacts", "companies", ["2"])

    error = read.error_of("2")
    assert error is not None
    assert len(error.message) == READ_ERROR_MESSAGE_CHARS
    assert TOKEN not in error.message
    assert "***" in error.message
    assert TOKEN not in repr(read)


def test_associations_are_flat_tuples_the_collector_drops(
    requests_mock: Any, make_client: ClientFactory
) -> None:
    """The triggerer reads back thousands of pairs per pass: a read result holds no object per
    association that the garbage collector keeps tracking (they would start full collections)."""
    labelled = {
        "toObjectId": 11,
        "associationTypes": [{"category": "USER_DEFINED", "typeId": "36", "label": "Billing"}],
    }
    requests_mock.post(
        READ_URL, json=batch_body(results=[{**result("1", "10"), "to": [*result("1", "10")["to"], labelled]}])
    )

    read = make_client().read_associations("contacts", "companies", ["1"])

    assert [(link_to_id(link), link_types(link)) for link in read.links["1"]] == [
        ("10", [("HUBSPOT_DEFINED", 279, None)]),
        ("11", [("USER_DEFINED", 36, "Billing")]),
    ]
    gc.collect(0)
    assert not any(gc.is_tracked(link) for link in read.links["1"])
    records = read.associations["1"]  # models for callers that want them
    assert [
        (r.to_object_id, [(t.category, t.type_id, t.label) for t in r.association_types]) for r in records
    ] == [
        ("10", [("HUBSPOT_DEFINED", 279, None)]),
        ("11", [("USER_DEFINED", 36, "Billing")]),
    ]


@pytest.mark.parametrize(
    "bad_result",
    [
        {"from": {"id": "1"}, "to": [{"associationTypes": []}]},  # no toObjectId
        {
            "from": {"id": "1"},
            "to": [{"toObjectId": "2", "associationTypes": [{"typeId": 1}]}],
        },  # no category
        {
            "from": {"id": "1"},
            "to": [{"toObjectId": "2", "associationTypes": [{"category": "X", "typeId": "a"}]}],
        },
        {"id": "1"},  # not a result at all
    ],
)
def test_a_malformed_result_is_an_unexpected_shape(
    requests_mock: Any, make_client: ClientFactory, bad_result: dict[str, Any]
) -> None:
    from airflow_provider_hubassoc.client.errors import HubSpotTransportError

    requests_mock.post(READ_URL, json=batch_body(results=[bad_result]))
    with pytest.raises(HubSpotTransportError, match="unexpected shape"):
        make_client(max_attempts=1).read_associations("contacts", "companies", ["1"])
