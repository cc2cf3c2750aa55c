"""Input parsing and validation: every accepted spelling, and refusals that name the input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_hubassoc.models import AssociationCategory, AssociationType, InputValidationError
from airflow_provider_hubassoc.operators.inputs import LabelName, PairSource

USER_36 = AssociationType(category=AssociationCategory.USER_DEFINED, type_id=36)


def pairs(inputs: object, labels: bool = False) -> list[tuple[str, str, tuple[object, ...]]]:
    return [(p.from_id, p.to_id, p.types) for p in PairSource(inputs, labels=labels)]


def test_list_of_dicts_tuples_and_wire_format() -> None:
    got = pairs(
        [
            {"from_id": 1, "to_id": "2"},
            (3, 4),
            {"fromId": "5", "toId": 6},
            {"from": {"id": "7"}, "to": [{"id": "8"}, {"id": "9"}]},
        ]
    )
    assert got == [("1", "2", ()), ("3", "4", ()), ("5", "6", ()), ("7", "8", ()), ("7", "9", ())]


def test_every_label_spelling() -> None:
    got = pairs(
        [
            (1, 2, ("USER_DEFINED", 36)),
            (1, 2, [("USER_DEFINED", 36)]),
            {"from_id": 1, "to_id": 2, "types": [{"category": "USER_DEFINED", "typeId": 36}]},
            {
                "from_id": 1,
                "to_id": 2,
                "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 36}],
            },
            {"from_id": 1, "to_id": 2, "category": "USER_DEFINED", "type_id": "36"},
            {"from_id": 1, "to_id": 2, "types": "USER_DEFINED:36"},
            {"from_id": 1, "to_id": 2, "label": "Decision maker"},
        ],
        labels=True,
    )
    assert [t for *_, t in got[:6]] == [(USER_36,)] * 6
    assert got[6][2] == (LabelName("Decision maker"),)


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ({"from_id": "abc", "to_id": 2}, "inputs[0]: from id 'abc'"),
        ({"from_id": 1, "to_id": -2}, "inputs[0]: to id -2"),
        ((1,), "inputs[0]"),
        ("12", "not a pair"),
        ({"from_id": 1}, "needs a from id"),
        ({"from_id": True, "to_id": 2}, "booleans"),
    ],
)
def test_bad_list_items_name_their_index(item: object, needle: str) -> None:
    with pytest.raises(InputValidationError, match="inputs\\[0\\]") as info:
        pairs([item])
    assert needle in str(info.value)


def test_labels_in_batch_archive_are_refused() -> None:
    with pytest.raises(InputValidationError, match="HubSpotArchiveAssociationLabelsOperator"):
        pairs([{"from_id": 1, "to_id": 2, "label": "x"}])


def test_label_archive_needs_types_and_valid_category() -> None:
    with pytest.raises(InputValidationError, match="names no label"):
        pairs([(1, 2)], labels=True)
    with pytest.raises(InputValidationError, match="category 'NOPE'"):
        pairs([(1, 2, ("NOPE", 3))], labels=True)
    with pytest.raises(InputValidationError, match="type id 0"):
        pairs([(1, 2, ("USER_DEFINED", 0))], labels=True)


def test_mapping_and_none_refused() -> None:
    with pytest.raises(InputValidationError):
        PairSource({"from_id": 1, "to_id": 2}, labels=False)
    with pytest.raises(InputValidationError):
        PairSource(None, labels=False)


def test_csv_file_streamed_twice(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("from_id,to_id\n1,2\n\n3,4\n")
    source = PairSource(str(path), labels=False)
    assert [(p.from_id, p.to_id) for p in source] == [("1", "2"), ("3", "4")]
    assert len(list(source)) == 2  # re-iterable: the validation pass, then the loading pass


def test_csv_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("from_id,to_id,category,type_id,label\n1,2,USER_DEFINED,36,\n3,4,,,Boss\n")
    got = pairs(str(path), labels=True)
    assert got == [("1", "2", (USER_36,)), ("3", "4", (LabelName("Boss"),))]


def test_csv_bad_line_names_line_number(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("from_id,to_id\n1,2\n3,x4\n")
    with pytest.raises(InputValidationError, match=r"pairs\.csv line 3: to id 'x4'"):
        pairs(str(path))


def test_csv_bad_header(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputValidationError, match="line 1"):
        pairs(str(path))


def test_jsonl_malformed_line_names_line_number(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"from_id": 1, "to_id": 2}) + "\n" + '{"from_id": 1,\n')
    with pytest.raises(InputValidationError, match=r"pairs\.jsonl line 2: malformed JSON"):
        pairs(str(path))


def test_jsonl_arrays_and_objects(tmp_path: Path) -> None:
    path = tmp_path / "pairs.ndjson"
    path.write_text('[1, 2]\n{"fromId": "3", "toId": "4"}\n')
    assert pairs(str(path)) == [("1", "2", ()), ("3", "4", ())]


def test_file_uri_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text("[1, 2]\n")
    assert pairs(f"file://{path}") == [("1", "2", ())]
    with pytest.raises(InputValidationError, match="does not exist"):
        PairSource(str(tmp_path / "nope.csv"), labels=False)
    with pytest.raises(InputValidationError, match="unknown format"):
        PairSource(str(tmp_path / "pairs.txt"), labels=False)


def test_object_storage_path(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    path = tmp_path / "pairs.csv"
    path.write_text("fromId,toId\n5,6\n")
    assert pairs(ObjectStoragePath(f"file://{path}")) == [("5", "6", ())]


def test_a_label_name_whose_category_cannot_be_sent_is_refused_by_name() -> None:
    from airflow_provider_hubassoc.models.responses import AssociationLabel
    from airflow_provider_hubassoc.operators.labels import resolve_names

    labels = [
        AssociationLabel.model_validate({"category": "PARTNER_DEFINED", "typeId": 901, "label": "Reseller"})
    ]
    with pytest.raises(InputValidationError, match=r"'reseller' has category 'PARTNER_DEFINED'"):
        resolve_names({"reseller": "inputs[0]"}, labels, "contacts", "companies")
