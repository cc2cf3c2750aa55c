"""The input edge alone: every accepted spelling, one pass into the store, and refusals that name
the input. (The operator-level guarantees, that a refusal sends nothing, are in
tests/reliability/test_bad_input.py.)"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubassoc.batch.inputs import MAX_MESSAGE, load_pairs, parse_input
from airflow_provider_hubassoc.batch.labels import LabelName
from airflow_provider_hubassoc.batch.store import PairStore
from airflow_provider_hubassoc.models.associations import AssociationCategory, AssociationType, Pair
from airflow_provider_hubassoc.models.identifiers import InputValidationError
from tests.support.inputs import GRID_LABELS, label_catalog, load_inputs

USER_36 = AssociationType(category=AssociationCategory.USER_DEFINED, type_id=36)
USER_37 = AssociationType(category=AssociationCategory.USER_DEFINED, type_id=37)
UNLABELED = AssociationType(category=AssociationCategory.HUBSPOT_DEFINED, type_id=279)


def pairs(inputs: object, labels: bool = False) -> list[tuple[str, str, tuple[object, ...]]]:
    _, loaded = load_inputs(inputs, labels=GRID_LABELS if labels else None)
    return [(p.from_id, p.to_id, p.types) for p in loaded]


def pairs_with(inputs: object, labels: list[dict[str, Any]]) -> list[tuple[str, str, tuple[object, ...]]]:
    _, loaded = load_inputs(inputs, labels=labels)
    return [(p.from_id, p.to_id, p.types) for p in loaded]


def refusal(inputs: object, labels: bool = False) -> str:
    with pytest.raises(InputValidationError) as info:
        pairs(inputs, labels=labels)
    message = str(info.value)
    assert len(message) <= MAX_MESSAGE
    return message


# -- dialects ---------------------------------------------------------------------------------------


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
    spellings: list[Any] = [
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
        {"from_id": 1, "to_id": 2, "labels": ["Decision maker"]},
        {"from_id": 1, "to_id": 2, "types": [{"label": "Decision maker"}]},
    ]
    got = [parse_input(item, where="x", with_labels=True).labels for item in spellings]
    assert got[:6] == [(USER_36,)] * 6
    assert got[6:] == [(LabelName("Decision maker"),)] * 3
    # Resolved, every spelling is the same label on the same pair: one pair, one row.
    report, loaded = load_inputs(spellings, labels=GRID_LABELS)
    assert loaded == [Pair("1", "2", (USER_36,))]
    assert (report.requested, report.duplicates) == (1, len(spellings) - 1)


def test_a_pair_keeps_every_label_it_names_sorted_and_unique() -> None:
    got = pairs(
        [(1, 2, ["Decision maker", "USER_DEFINED:37"]), (1, 2, "decision MAKER"), (1, 3, "USER_DEFINED:37")],
        labels=True,
    )
    assert got == [("1", "2", (USER_36, USER_37)), ("1", "3", (USER_37,))]


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
    message = refusal([item])
    assert "inputs[0]" in message
    assert needle in message


def test_labels_in_batch_archive_are_refused() -> None:
    assert "HubSpotArchiveAssociationLabelsOperator" in refusal([{"from_id": 1, "to_id": 2, "label": "x"}])


def test_label_archive_needs_types_and_valid_category() -> None:
    assert "names no label" in refusal([(1, 2)], labels=True)
    assert "label ['x'] is not usable" in refusal([(1, 2, [{"label": ["x"]}])], labels=True)
    assert "label {'x': 1} is not usable" in refusal([(1, 2, [{"label": {"x": 1}}])], labels=True)
    assert "category 'NOPE'" in refusal([(1, 2, ("NOPE", 3))], labels=True)
    assert "type id 0" in refusal([(1, 2, ("USER_DEFINED", 0))], labels=True)


def test_mapping_and_none_refused() -> None:
    assert "single mapping" in refusal({"from_id": 1, "to_id": 2})
    assert "inputs is empty" in refusal(None)


# -- one pass ---------------------------------------------------------------------------------------


class CountingList(list[Any]):
    """A list that counts how often it is iterated."""

    iterations = 0

    def __iter__(self) -> Any:
        self.iterations += 1
        return super().__iter__()


def test_the_input_is_read_once() -> None:
    """One streaming pass validates and spills (issue 11): no validation pass, then a loading pass."""
    inputs = CountingList([(1, 2), (3, 4)])
    assert pairs(inputs) == [("1", "2", ()), ("3", "4", ())]
    assert inputs.iterations == 1


def test_a_one_shot_iterable_is_enough() -> None:
    """An XCom value may be a lazy sequence that can be walked once: that must be enough."""
    assert pairs(iter([(1, 2), (3, 4)])) == [("1", "2", ()), ("3", "4", ())]


def test_labels_are_listed_only_after_the_whole_input_validated() -> None:
    calls: list[str] = []

    def labels() -> Any:
        calls.append("labels")
        return label_catalog()

    with PairStore() as store, pytest.raises(InputValidationError, match=r"inputs\[1\]"):
        load_pairs([(1, 2, "Decision maker"), (1, "x", "Decision maker")], store, labels=labels)
    assert calls == []
    with PairStore() as store:
        load_pairs([(1, 2, "Decision maker")], store, labels=labels)
    assert calls == ["labels"]


def test_chunks_cut_the_pairs_in_order_with_a_stable_digest() -> None:
    with PairStore() as store:
        load_pairs([(2, 1), (1, 3), (1, 2), (3, 1), (1, 2)], store)
        chunks = list(store.chunks(2))
        again = list(store.chunks(2))
    assert [c.index for c in chunks] == [0, 1]
    assert [[(p.from_id, p.to_id) for p in c.pairs] for c in chunks] == [
        [("1", "2"), ("1", "3")],
        [("2", "1"), ("3", "1")],
    ]
    assert [c.from_ids() for c in chunks] == [["1"], ["2", "3"]]
    assert [c.digest for c in chunks] == [c.digest for c in again]
    assert len({c.digest for c in chunks}) == len(chunks)


def test_the_store_is_a_temporary_file_removed_on_close_even_after_a_refusal() -> None:
    with PairStore() as store:
        path = Path(store.path)
        with pytest.raises(InputValidationError):
            load_pairs([(1, 2, "Nobody")], store, labels=label_catalog)
        assert path.exists()
    assert not path.exists()


# -- files ------------------------------------------------------------------------------------------


def test_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("from_id,to_id\n1,2\n\n3,4\n")
    assert pairs(str(path)) == [("1", "2", ()), ("3", "4", ())]


def test_csv_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("from_id,to_id,category,type_id,label\n1,2,USER_DEFINED,36,\n3,4,,,decision Maker\n")
    assert pairs(str(path), labels=True) == [("1", "2", (USER_36,)), ("3", "4", (USER_36,))]


def test_csv_with_a_byte_order_mark_and_crlf_lines(tmp_path: Path) -> None:
    """Excel writes UTF-8 CSV with a BOM and CRLF: the BOM is not part of the first column's name."""
    path = tmp_path / "pairs.csv"
    path.write_bytes(b"\xef\xbb\xbffrom_id,to_id\r\n1,2\r\n3,4\r\n")
    assert pairs(str(path)) == [("1", "2", ()), ("3", "4", ())]


def test_csv_bad_line_names_line_number(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("from_id,to_id\n1,2\n3,x4\n")
    assert "pairs.csv line 3: to id 'x4'" in refusal(str(path))


def test_csv_bad_header(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("a,b\n1,2\n")
    assert "line 1" in refusal(str(path))


def test_jsonl_malformed_line_names_line_number(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"from_id": 1, "to_id": 2}) + "\n" + '{"from_id": 1,\n')
    assert "pairs.jsonl line 2: malformed JSON" in refusal(str(path))


def test_jsonl_nested_too_deep_is_malformed(tmp_path: Path) -> None:
    """Refused before json.loads, which would hit the recursion limit."""
    path = tmp_path / "pairs.jsonl"
    path.write_text("[1, 2]\n" + "[" * 100_000 + "\n")
    assert "pairs.jsonl line 2: malformed JSON (nested deeper than 32 levels)" in refusal(str(path))


def test_jsonl_brackets_inside_strings_are_not_nesting(tmp_path: Path) -> None:
    name = "[{" * 40
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"from_id": 1, "to_id": 2, "labels": [name, "\\" + name]}) + "\n")
    labels = [
        {"category": "USER_DEFINED", "typeId": 36, "label": name},
        {"category": "USER_DEFINED", "typeId": 37, "label": "\\" + name},
    ]
    assert pairs_with(str(path), labels) == [("1", "2", (USER_36, USER_37))]


def test_jsonl_arrays_and_objects(tmp_path: Path) -> None:
    path = tmp_path / "pairs.ndjson"
    path.write_text('[1, 2]\n{"fromId": "3", "toId": "4"}\n')
    assert pairs(str(path)) == [("1", "2", ()), ("3", "4", ())]


def test_file_uri_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text("[1, 2]\n")
    assert pairs(f"file://{path}") == [("1", "2", ())]
    assert "does not exist" in refusal(str(tmp_path / "nope.csv"))
    assert "unknown format" in refusal(str(tmp_path / "pairs.txt"))


def test_object_storage_path(tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    path = tmp_path / "pairs.csv"
    path.write_text("fromId,toId\n5,6\n")
    assert pairs(ObjectStoragePath(f"file://{path}")) == [("5", "6", ())]


def test_a_non_utf8_byte_is_named_at_its_exact_line(tmp_path: Path) -> None:
    """Decoding a block at a time named line 39613 for a byte on line 40001 (issue 18)."""
    path = tmp_path / "pairs.csv"
    lines = [b"from_id,to_id"] + [b"%d,%d" % (n, n + 1) for n in range(1, 40_000)] + [b"7,1\xe9"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    message = refusal(str(path))
    assert f"{path} line 40001: not UTF-8" in message


# -- bounded messages and memory (issue 18, item 8) -------------------------------------------------


def _peak_refusal(inputs: object) -> tuple[str, int]:
    tracemalloc.start()
    try:
        message = refusal(inputs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return message, peak


def test_a_header_followed_by_50_mb_of_commas_is_refused_briefly(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    with path.open("wb") as handle:
        handle.write(b"from_id,to_id")
        for _ in range(50):
            handle.write(b"," * (1 << 20))
        handle.write(b"\n1,2\n")
    message, peak = _peak_refusal(str(path))
    assert f"{path} line 1: longer than" in message
    assert peak < 16 << 20  # today: a 104,857,726-character message and 971 MB


def test_a_20000_column_header_is_refused_briefly(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("from_id,to_id," + ",".join(f"c{n}" for n in range(20_000)) + "\n1,2\n")
    message, peak = _peak_refusal(str(path))
    assert f"{path} line 1: the CSV header has 20,002 columns" in message
    assert peak < 16 << 20


def test_a_header_without_id_columns_is_named_briefly(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(",".join(f"column_{n}" for n in range(900)) + "\n1,2\n")
    assert "needs a from column" in refusal(str(path))


def test_a_huge_label_list_is_not_echoed_whole() -> None:
    many = [
        {"category": "USER_DEFINED", "typeId": n, "label": f"label {n} " + "x" * 50} for n in range(1, 5000)
    ]
    with pytest.raises(InputValidationError) as info:
        load_inputs([(1, 2, "Nobody")], labels=many)
    message = str(info.value)
    assert "inputs[0]: label 'nobody' is not defined" in message
    assert "and 4979 more" in message
    assert len(message) <= MAX_MESSAGE


def test_a_huge_label_name_is_not_echoed_whole() -> None:
    with pytest.raises(InputValidationError) as info:
        load_inputs([(1, 2, "y" * 100_000)], labels=GRID_LABELS)
    assert str(info.value).startswith("inputs[0]: label 'yyy")
    assert len(str(info.value)) <= MAX_MESSAGE


# -- ASCII digits only (issue 18) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        (1, 2, ("USER_DEFINED", "²")),
        (1, 2, "USER_DEFINED:²"),
        (1, 2, {"category": "USER_DEFINED", "typeId": "٣٦"}),
        (1, 2, ["USER_DEFINED", "٣٦"]),
        {"from_id": 1, "to_id": 2, "category": "USER_DEFINED", "type_id": "\uff13\uff16"},
    ],
)
def test_type_ids_in_other_digits_are_input_errors(item: object) -> None:
    message = refusal([(1, 2, "USER_DEFINED:36"), item], labels=True)
    assert message.startswith("inputs[1]: association type id")
    assert "ASCII digits only" in message


@pytest.mark.parametrize("bad", ["²", "٣٦", "\uff11\uff12"])
def test_record_ids_in_other_digits_are_input_errors(bad: str) -> None:
    assert refusal([(1, 2), (1, bad)]).startswith("inputs[1]: to id")


# -- labels checked against HubSpot's list (issue 18, item 6) ---------------------------------------


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        (
            "HUBSPOT_DEFINED:36",
            ["label type HUBSPOT_DEFINED:36 is not defined", "USER_DEFINED:36", "category"],
        ),
        ("USER_DEFINED:999", ["label type USER_DEFINED:999 is not defined between contacts and companies"]),
        (("INTEGRATOR_DEFINED", 36), ["label type INTEGRATOR_DEFINED:36 is not defined"]),
    ],
)
def test_an_explicit_label_type_must_be_defined(spec: object, needles: list[str]) -> None:
    message = refusal([(1, 2, "USER_DEFINED:36"), (3, 4, spec)], labels=True)
    assert message.startswith("inputs[1]: ")
    for needle in needles:
        assert needle in message


def test_the_unlabeled_type_is_accepted_even_when_not_listed_and_warned() -> None:
    labels = [label for label in GRID_LABELS if label.get("label")]  # the list leaves 279 out
    report, loaded = load_inputs(
        [(1, 2, ("HUBSPOT_DEFINED", 279)), (1, 3, "HUBSPOT_DEFINED:279")], labels=labels
    )
    assert loaded == [Pair("1", "2", (UNLABELED,)), Pair("1", "3", (UNLABELED,))]
    assert len(report.warnings) == 1
    assert "2 pair(s) (first: inputs[0]) name HUBSPOT_DEFINED type 279" in report.warnings[0]
    assert "removes every label" in report.warnings[0]


def test_a_label_name_whose_category_cannot_be_sent_is_refused_by_name() -> None:
    labels = [{"category": "PARTNER_DEFINED", "typeId": 901, "label": "Reseller"}]
    with pytest.raises(InputValidationError, match=r"'reseller' has category 'PARTNER_DEFINED'"):
        label_catalog(labels).resolve("name:reseller", "inputs[0]")


@pytest.mark.parametrize(
    ("label", "needle"),
    [("Nobody", "label 'nobody' is not defined"), ("Billing contact", "matches 2 labels")],
)
def test_unknown_or_ambiguous_label_names_are_refused(label: str, needle: str) -> None:
    message = refusal(
        [(1, 101, ("USER_DEFINED", 36)), {"from_id": 1, "to_id": 102, "label": label}], labels=True
    )
    assert message.startswith("inputs[1]: ")
    assert needle in message
    assert "USER_DEFINED:37" in message  # the labels that exist are listed


# -- anything else ----------------------------------------------------------------------------------

JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["USER_DEFINED:36", "Decision maker", "HUBSPOT_DEFINED:279", "36", "user_defined"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["from_id", "to", "toId", "types", "label", "category", "typeId", "id", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(item=JSONISH, labels=st.booleans())
def test_any_value_is_a_pair_or_an_input_error(item: Any, labels: bool) -> None:
    """Whatever a user or an upstream task hands over, the outcome is pairs or a bounded refusal
    naming the input: never a TypeError, a KeyError or a pydantic error."""
    first = (1, 2, "USER_DEFINED:36") if labels else (1, 2)
    message = refusal_or_none([first, item], labels=labels)
    if message is not None:
        assert message.startswith("inputs[1]: "), message
        assert len(message) <= MAX_MESSAGE


def refusal_or_none(inputs: object, labels: bool) -> str | None:
    try:
        pairs(inputs, labels=labels)
    except InputValidationError as err:
        return str(err)
    return None
