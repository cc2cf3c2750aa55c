"""Record ids and object types are refused before they can reach a URL or a body."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_hubassoc.models import (
    BatchArchiveInput,
    InputValidationError,
    LabelArchiveInput,
    parse_object_type,
    parse_record_id,
)
from airflow_provider_hubassoc.models.identifiers import MAX_RECORD_ID


@pytest.mark.parametrize(
    "value", ["contacts", "companies", "line_items", "0-1", "0-2", "2-1234567", "p1234_cars"]
)
def test_valid_object_types_pass(value: str) -> None:
    assert parse_object_type(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "../contacts",
        "contacts/../deals",
        "a%2Fb",
        "%2F",
        "contacts ",
        " contacts",
        "con tacts",
        "kontakté",
        "контакты",
        "0-",
        "-1",
        "contacts?x=1",
        "contacts#",
        "Contacts",
        None,
        12,
    ],
)
def test_invalid_object_types_are_refused_naming_the_value(value: object) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        parse_object_type(value, field="from_object_type")
    assert "from_object_type" in str(excinfo.value)
    assert repr(value) in str(excinfo.value)


@pytest.mark.parametrize(
    ("value", "expected"), [("1", "1"), (42, "42"), ("007", "7"), (MAX_RECORD_ID, str(MAX_RECORD_ID))]
)
def test_valid_record_ids_are_canonical_digit_strings(value: object, expected: str) -> None:
    assert parse_record_id(value) == expected


@pytest.mark.parametrize(
    "value", ["", " ", "-1", -1, 0, "0", 1.5, "1.5", "1e3", "12a", True, None, MAX_RECORD_ID + 1, "٣", [1]]
)
def test_invalid_record_ids_are_refused_naming_the_value(value: object) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        parse_record_id(value, field="toId")
    assert "toId" in str(excinfo.value)


@given(st.text(max_size=30))
def test_any_accepted_object_type_is_url_safe(text: str) -> None:
    try:
        accepted = parse_object_type(text)
    except InputValidationError:
        return
    assert all(c.isalnum() or c in "-_" for c in accepted)
    assert accepted.isascii()


@given(st.one_of(st.integers(), st.text(max_size=25), st.floats()))
def test_record_id_parsing_accepts_exactly_positive_int64(value: object) -> None:
    try:
        parsed = parse_record_id(value)
    except InputValidationError:
        return
    assert parsed.isdigit()
    assert 0 < int(parsed) <= MAX_RECORD_ID


def test_inputs_serialize_to_hubspots_wire_format() -> None:
    batch = BatchArchiveInput(from_id=1, to_ids=("2", 3))
    assert batch.to_wire() == {"from": {"id": "1"}, "to": [{"id": "2"}, {"id": "3"}]}
    label = LabelArchiveInput.model_validate(
        {
            "from_id": "1",
            "to_id": "2",
            "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 36}],
        }
    )
    assert label.to_wire() == {
        "from": {"id": "1"},
        "to": {"id": "2"},
        "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 36}],
    }


def test_inputs_refuse_bad_ids_and_empty_lists() -> None:
    with pytest.raises(ValueError, match="digits"):
        BatchArchiveInput(from_id="abc", to_ids=("1",))
    with pytest.raises(ValueError):
        BatchArchiveInput(from_id="1", to_ids=())
    with pytest.raises(ValueError):
        LabelArchiveInput.model_validate(
            {"from_id": "1", "to_id": "2", "types": [{"associationCategory": "NOPE", "associationTypeId": 1}]}
        )
    with pytest.raises(ValueError):
        LabelArchiveInput.model_validate(
            {
                "from_id": "1",
                "to_id": "2",
                "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 0}],
            }
        )


@pytest.mark.parametrize(
    "value",
    ["9" * 5000, 10**5000, -(10**5000), "0" * 30 + "1" * 20, "x" * 1_000_000],
    ids=["5000-digit-string", "huge-int", "huge-negative-int", "20-digits-after-zeros", "1MB-text"],
)
def test_huge_ids_are_refused_with_a_bounded_message(value: object) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        parse_record_id(value, field="toId")
    assert "toId" in str(excinfo.value)
    assert len(str(excinfo.value)) < 300


def test_leading_zeros_before_a_valid_id_are_accepted() -> None:
    assert parse_record_id("0" * 40 + "42") == "42"
