"""Record ids and object types are refused before they can reach a URL or a body."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_hubassoc.models.associations import AssociationType
from airflow_provider_hubassoc.models.identifiers import (
    MAX_RECORD_ID,
    MAX_TYPE_ID,
    InputValidationError,
    parse_object_type,
    parse_record_id,
    parse_type_id,
)


@pytest.mark.parametrize(
    "value",
    [
        "contacts",
        "companies",
        "line_items",
        "0-1",
        "0-2",
        "2-1234567",
        "p1234_cars",
        "p1234_MyObject",
        "p9_A1_b",
    ],
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


def test_association_types_refuse_bad_categories_and_type_ids() -> None:
    with pytest.raises(ValueError, match="digits"):
        parse_record_id("abc")
    with pytest.raises(ValueError):
        AssociationType.model_validate({"associationCategory": "NOPE", "associationTypeId": 1})
    with pytest.raises(ValueError):
        AssociationType.model_validate({"associationCategory": "USER_DEFINED", "associationTypeId": 0})
    wire = AssociationType.model_validate({"associationCategory": "USER_DEFINED", "associationTypeId": 36})
    assert wire.to_wire() == {"associationCategory": "USER_DEFINED", "associationTypeId": 36}


@pytest.mark.parametrize("value", [MAX_TYPE_ID + 1, str(MAX_TYPE_ID + 1), 2**63])
def test_type_ids_above_int32_are_refused_naming_the_input(value: object) -> None:
    with pytest.raises(InputValidationError, match=r"typeId .* out of range: expected 1 to 2147483647"):
        parse_type_id(value, field="typeId")
    with pytest.raises(ValueError, match="2147483647"):
        AssociationType.model_validate({"associationCategory": "USER_DEFINED", "associationTypeId": value})
    assert parse_type_id(MAX_TYPE_ID) == 2147483647


@pytest.mark.parametrize("value", ["\u00b2", "\u0663\u0666", "\uff13\uff16", "3.6", " 36", "", True, 36.0])
def test_type_ids_take_ascii_digits_only(value: object) -> None:
    with pytest.raises(InputValidationError) as caught:
        parse_type_id(value, field="types[0].typeId")
    message = str(caught.value)
    assert "types[0].typeId" in message
    assert len(message) < 300
    assert not isinstance(caught.value, (TypeError, OverflowError))


@pytest.mark.parametrize("value", ["\u00b2", "\u0663\u0666", "\uff11\uff12"])
def test_record_ids_take_ascii_digits_only(value: str) -> None:
    with pytest.raises(InputValidationError, match="ASCII digits only"):
        parse_record_id(value, field="from_id")


def test_type_id_strings_of_ascii_digits_are_read() -> None:
    assert parse_type_id("36") == 36
    assert parse_type_id("0036") == 36
    assert parse_type_id(279) == 279


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
