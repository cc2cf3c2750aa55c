"""The shared read-back: chunking, association vs label semantics, messages."""

from __future__ import annotations

from typing import Any

import pytest
from readback_fake import FakeReader

from airflow_provider_hubassoc.client.readback import READ_CHUNK_SIZE, find_still_present
from airflow_provider_hubassoc.models.summary import VerifyPair

UNLABELED = ("HUBSPOT_DEFINED", 279)
PRIMARY = ("HUBSPOT_DEFINED", 1)
CUSTOM = ("USER_DEFINED", 36)


def pair(fid: str, tid: str, *types: tuple[str, int]) -> VerifyPair:
    wire = [{"associationCategory": c, "associationTypeId": t} for c, t in types] or None
    return VerifyPair.model_validate({"fromId": fid, "toId": tid, "types": wire})


def test_association_pairs_present_and_gone(fake_reader: Any) -> None:
    fake_reader.edges = {("1", "10"): {UNLABELED}, ("2", "20"): {UNLABELED, PRIMARY}}
    pairs = [pair("1", "10"), pair("1", "11"), pair("2", "20"), pair("3", "30")]

    result = find_still_present(fake_reader, "contacts", "companies", pairs, api_version="2026-03")

    assert result.checked == 4
    assert [(p.from_id, p.to_id) for p in result.still_present] == [("1", "10"), ("2", "20")]
    assert not result.all_gone
    assert fake_reader.calls == [["1", "2", "3"]]  # one read, each from id once


def test_label_pairs_only_the_archived_labels_count(fake_reader: Any) -> None:
    fake_reader.edges = {("1", "10"): {UNLABELED}, ("2", "20"): {UNLABELED, CUSTOM}}
    pairs = [
        pair("1", "10", CUSTOM),  # label gone, association stays: gone
        pair("2", "20", CUSTOM),  # label still there: present
        pair("3", "30", UNLABELED),  # unlabeled archived removes the whole association: gone
    ]

    result = find_still_present(fake_reader, "contacts", "companies", pairs)

    assert [(p.from_id, p.to_id) for p in result.still_present] == [("2", "20")]


def test_reads_are_chunked_to_1000_from_ids(fake_reader: Any) -> None:
    # 2,500 distinct from ids, each with two pairs: three reads, none over 1,000 ids.
    pairs = [pair(str(i), str(t)) for i in range(1, 2501) for t in (1, 2)]
    fake_reader.edges = {("2500", "2"): {UNLABELED}}

    result = find_still_present(fake_reader, "contacts", "companies", iter(pairs))

    assert [len(c) for c in fake_reader.calls] == [1000, 1000, 500]
    assert result.checked == 5000
    assert [(p.from_id, p.to_id) for p in result.still_present] == [("2500", "2")]


def test_smaller_chunk_and_bounds(fake_reader: Any) -> None:
    pairs = [pair(str(i), "1") for i in range(1, 6)]
    find_still_present(fake_reader, "contacts", "companies", pairs, chunk_size=2)
    assert [len(c) for c in fake_reader.calls] == [2, 2, 1]
    with pytest.raises(ValueError, match="chunk_size"):
        find_still_present(fake_reader, "contacts", "companies", pairs, chunk_size=READ_CHUNK_SIZE + 1)


def test_ids_are_compared_canonically(fake_reader: Any) -> None:
    fake_reader.edges = {("7", "42"): {UNLABELED}}
    result = find_still_present(fake_reader, "contacts", "companies", [pair("007", "0042")])
    assert len(result.still_present) == 1
    assert fake_reader.calls == [["7"]]


def test_describe_names_pairs_and_counts_the_rest(fake_reader: Any) -> None:
    fake_reader.edges = {("1", str(t)): {CUSTOM} for t in range(1, 31)}
    pairs = [pair("1", str(t), CUSTOM) for t in range(1, 31)] + [pair("2", "1")]

    result = find_still_present(fake_reader, "contacts", "companies", pairs)

    text = result.describe(3)
    assert text.startswith("30 of 31 pairs still present: 1->1 [USER_DEFINED/36], 1->2")
    assert text.endswith("and 27 more")
    assert len(result.sample(5)) == 5
    assert result.sample(1) == [
        {
            "fromId": "1",
            "toId": "1",
            "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 36}],
        }
    ]


def test_one_record_linked_to_ten_thousand_is_checked_by_lookup() -> None:
    """Every pair of a from id with 10,000 links: correct per pair (indexed once per from id)."""
    still_linked = {("1", str(to_id)): {("HUBSPOT_DEFINED", 279)} for to_id in range(1, 10_001)}
    reader = FakeReader(still_linked)
    asked = [VerifyPair(from_id="1", to_id=str(to_id)) for to_id in range(5_001, 15_001)]
    result = find_still_present(reader, "contacts", "companies", asked)
    assert result.checked == 10_000
    assert [p.to_id for p in result.still_present] == [str(t) for t in range(5_001, 10_001)]
