"""One rule for the names of a pair's fields in every input kind (issue 23, item 6), and an empty
input that is not an error unless asked (item 7), at the input edge alone (`load_pairs`).

Two names for one side (`from_id` twice, `fromId` with `from_id`, `to` with `to_id`, `label` with
`types`) used to let one of them win silently, so the wrong association was removed. Names match
in any case, in every input kind. (The SQL source's cases are in test_sql_source.py; the
operator-level refusal, with no request sent, in tests/reliability/test_bad_input.py.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubassoc.batch.inputs import MAX_MESSAGE, load_pairs
from airflow_provider_hubassoc.batch.store import PairStore
from airflow_provider_hubassoc.models.identifiers import InputValidationError
from tests.support.inputs import GRID_LABELS, label_catalog, load_inputs


def loaded(inputs: object, labels: bool = False) -> list[tuple[str, str, list[int]]]:
    _, pairs = load_inputs(inputs, labels=GRID_LABELS if labels else None)
    return [(p.from_id, p.to_id, [t.type_id for t in p.types]) for p in pairs]


def refusal(inputs: object, labels: bool = False) -> str:
    with pytest.raises(InputValidationError) as info:
        loaded(inputs, labels=labels)
    message = str(info.value)
    assert len(message) <= MAX_MESSAGE
    return message


def csv_file(tmp_path: Path, text: str, name: str = "pairs.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- CSV headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "row", "names", "field"),
    [
        ("from_id,to_id,from_id", "1,101,2", ("'from_id' and 'from_id' (columns 1 and 3)",), "from id"),
        ("fromId,to_id,from_id", "1,101,2", ("'fromId' and 'from_id' (columns 1 and 3)",), "from id"),
        ("from_id,to,to_id", "1,101,102", ("'to' and 'to_id' (columns 2 and 3)",), "to id"),
        ("from_id,to_id,FROM_ID", "1,101,2", ("'from_id' and 'FROM_ID' (columns 1 and 3)",), "from id"),
        ("from_id,to_id,from", "1,101,", ("'from_id' and 'from' (columns 1 and 3)",), "from id"),
    ],
)
def test_a_csv_header_naming_a_side_twice_is_refused_at_its_line(
    tmp_path: Path, header: str, row: str, names: tuple[str, ...], field: str
) -> None:
    """Today one column wins silently (the last one in a row, whichever alias in a key lookup)."""
    path = csv_file(tmp_path, f"{header}\n{row}\n")
    message = refusal(path)
    assert message.startswith(f"{path} line 1: the CSV header"), message
    for text in names:
        assert text in message
    assert f"both name the {field}" in message


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ("from_id,to_id,label,types", "'label' and 'types' (columns 3 and 4)"),
        ("from_id,to_id,category,associationCategory,type_id", "'category' and 'associationCategory'"),
        ("from_id,to_id,category,type_id,TYPEID", "'type_id' and 'TYPEID' (columns 4 and 5)"),
    ],
)
def test_a_csv_header_naming_a_label_column_twice_is_refused(tmp_path: Path, header: str, names: str) -> None:
    cells = {"label": "Decision maker", "types": "USER_DEFINED:37", "category": "USER_DEFINED"}
    row = ",".join(
        cells.get(name, "36") if name not in ("from_id", "to_id") else "1" for name in header.split(",")
    )
    path = csv_file(tmp_path, f"{header}\n{row}\n")
    message = refusal(path, labels=True)
    assert message.startswith(f"{path} line 1: "), message
    assert names in message


def test_csv_headers_match_in_any_case(tmp_path: Path) -> None:
    """`FROM_ID,TO_ID` was refused, and the refusal did not say that case mattered."""
    assert loaded(csv_file(tmp_path, "FROM_ID,To_Id\n1,101\n2,102\n")) == [("1", "101", []), ("2", "102", [])]
    labels = csv_file(tmp_path, "FromId,TOID,CATEGORY,Type_ID\n1,101,USER_DEFINED,36\n", "labels.csv")
    assert loaded(labels, labels=True) == [("1", "101", [36])]


def test_a_header_without_id_columns_says_case_does_not_matter(tmp_path: Path) -> None:
    assert "in any case" in refusal(csv_file(tmp_path, "contact,company\n1,101\n"))


def test_a_csv_row_naming_its_label_by_name_and_by_type_is_refused_at_its_line(tmp_path: Path) -> None:
    """Label and category/type_id columns may share a header (each row fills one); a row filling
    both named two labels, and the name silently won."""
    path = csv_file(
        tmp_path,
        "from_id,to_id,label,category,type_id\n1,101,Decision maker,,\n"
        "2,102,Decision maker,USER_DEFINED,37\n",
    )
    message = refusal(path, labels=True)
    assert message.startswith(f"{path} line 3: "), message
    assert "names its label twice" in message
    assert "category and type_id" in message


# -- list items -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "names", "field"),
    [
        ({"from_id": 1, "from": 2, "to_id": 101}, "keys 'from_id' and 'from'", "from id"),
        ({"fromId": 1, "from_id": 2, "to_id": 101}, "keys 'fromId' and 'from_id'", "from id"),
        ({"from_id": 1, "to": 101, "to_id": 102}, "keys 'to' and 'to_id'", "to id"),
        ({"from_id": 1, "FROM_ID": 2, "to_id": 101}, "keys 'from_id' and 'FROM_ID'", "from id"),
        ({"from": {"id": 1}, "fromId": "2", "to_id": 101}, "keys 'from' and 'fromId'", "from id"),
    ],
)
def test_a_list_item_naming_a_side_twice_is_refused(item: dict[str, Any], names: str, field: str) -> None:
    message = refusal([(5, 105), item])
    assert message.startswith("inputs[1]: "), message
    assert names in message
    assert f"both name the {field}" in message


IDS = {"from_id": 1, "to_id": 101}
USER = "USER_DEFINED"


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ({**IDS, "label": "Decision maker", "types": f"{USER}:37"}, "'label' and 'types'"),
        ({**IDS, "labels": ["Decision maker"], "category": USER, "typeId": 37}, "names its label twice"),
        ({**IDS, "types": [{"category": USER, "typeId": 36, "type_id": 37}]}, "'typeId' and 'type_id'"),
        (
            {**IDS, "types": [{"category": USER, "associationCategory": "HUBSPOT_DEFINED", "typeId": 1}]},
            "'category' and 'associationCategory'",
        ),
    ],
)
def test_a_list_item_naming_its_label_twice_is_refused(item: dict[str, Any], needle: str) -> None:
    message = refusal([(5, 105, "USER_DEFINED:36"), item], labels=True)
    assert message.startswith("inputs[1]: "), message
    assert needle in message


def test_list_item_keys_match_in_any_case() -> None:
    assert loaded([{"FROM_ID": 1, "ToId": 101}, {"From": {"id": 2}, "TO": [102, 103]}]) == [
        ("1", "101", []),
        ("2", "102", []),
        ("2", "103", []),
    ]
    assert loaded([{"from_id": 1, "to_id": 101, "Category": "USER_DEFINED", "TypeId": 36}], labels=True) == [
        ("1", "101", [36])
    ]


def test_a_label_as_the_labels_endpoint_lists_it_is_still_its_type() -> None:
    """`{"category", "typeId", "label"}` inside `types` is one label in the endpoint's own shape,
    not two: its type is what is sent (unchanged)."""
    item = {"from_id": 1, "to_id": 101, "types": [{"category": "USER_DEFINED", "typeId": 37, "label": "x"}]}
    assert loaded([item], labels=True) == [("1", "101", [37])]


# -- JSONL ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"from_id": 1, "to_id": 101, "from_id": 2}', "key 'from_id' appears twice in one object"),
        ('{"from_id": 1, "to_id": 101, "to_id": 102}', "key 'to_id' appears twice in one object"),
        ('{"from": {"id": 1, "id": 2}, "to_id": 101}', "key 'id' appears twice in one object"),
        ('{"fromId": 1, "to_id": 101, "from_id": 2}', "keys 'fromId' and 'from_id' both name the from id"),
        ('{"from_id": 1, "toId": 101, "TO": 102}', "keys 'toId' and 'TO' both name the to id"),
    ],
)
def test_a_jsonl_object_naming_a_side_twice_is_refused_at_its_line(
    tmp_path: Path, line: str, needle: str
) -> None:
    """json.loads keeps the last of two equal keys without a word."""
    path = csv_file(tmp_path, json.dumps({"from_id": 5, "to_id": 105}) + "\n" + line + "\n", "pairs.jsonl")
    message = refusal(path)
    assert message.startswith(f"{path} line 2: "), message
    assert needle in message


def test_jsonl_label_keys_twice_are_refused(tmp_path: Path) -> None:
    line = '{"from_id": 1, "to_id": 101, "label": "Decision maker", "label": "Billing contact"}'
    path = csv_file(tmp_path, line + "\n", "labels.jsonl")
    assert f"{path} line 1: key 'label' appears twice" in refusal(path, labels=True)


# -- an empty input (item 7) ------------------------------------------------------------------------


def empty_inputs(tmp_path: Path) -> list[tuple[Any, str]]:
    """(an input with no records, how a refusal names it)."""
    header_only = csv_file(tmp_path, "from_id,to_id\n\n", "header_only.csv")
    no_bytes = csv_file(tmp_path, "", "no_bytes.csv")
    blank_jsonl = csv_file(tmp_path, "\n  \n", "blank.jsonl")
    return [
        ([], "list of 0 inputs"),
        (iter(()), "list of 0 inputs"),
        (header_only, f"file {header_only}"),
        (no_bytes, f"file {no_bytes}"),
        (blank_jsonl, f"file {blank_jsonl}"),
    ]


@pytest.mark.parametrize("with_labels", [False, True])
def test_an_empty_input_loads_zero_pairs_and_asks_hubspot_nothing(tmp_path: Path, with_labels: bool) -> None:
    """A nightly query with nothing to do is the common case: not an error by default. Label
    archive does not even list the labels (there is nothing to check them against)."""
    calls: list[str] = []

    def labels() -> Any:
        calls.append("labels")
        return label_catalog()

    for inputs, description in empty_inputs(tmp_path):
        with PairStore() as store:
            report = load_pairs(inputs, store, labels=labels if with_labels else None)
            assert list(store.iter_pairs()) == []
        assert (report.requested, report.duplicates, report.empty) == (0, 0, True), description
        assert report.description == description
    assert calls == []


def test_fail_on_empty_refuses_an_empty_input_naming_it(tmp_path: Path) -> None:
    for inputs, description in empty_inputs(tmp_path):
        with PairStore() as store, pytest.raises(InputValidationError) as info:
            load_pairs(inputs, store, fail_on_empty=True)
        assert str(info.value) == f"inputs is empty ({description}) and fail_on_empty is set"


def test_fail_on_empty_leaves_a_non_empty_input_alone() -> None:
    with PairStore() as store:
        report = load_pairs([(1, 101), (1, 101)], store, fail_on_empty=True)
    assert (report.requested, report.duplicates, report.empty) == (1, 1, False)


def test_no_input_at_all_is_still_refused() -> None:
    """None is not an empty collection (an upstream task that returned nothing, a missing
    argument): it stays an error, empty or not."""
    with PairStore() as store, pytest.raises(InputValidationError, match="inputs is empty: give a list"):
        load_pairs(None, store)
