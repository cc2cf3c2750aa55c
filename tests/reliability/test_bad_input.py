"""Bad input: every refusal names the input, fails the task without Airflow retries, and sends no
request (not even the labels GET, unless the input is well formed and names labels, which are then
checked against HubSpot's list before any archive request)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from airflow_provider_hubassoc.models.identifiers import MAX_RECORD_ID, parse_record_id, short_repr
from hubassoc_simulator import Simulator
from tests.support.assertions import LeakScan
from tests.support.inputs import load_inputs
from tests.support.operator_runs import batch_op, label_op, run_operator
from tests.support.sim_states import FT, TT, MakeSim, archive_requests

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
OBJECT_TYPE_RE = re.compile(r"^(?:[0-9]-[0-9]{1,12}|p[0-9]{1,12}_[a-z][a-z0-9_]{0,99}|[a-z][a-z0-9_]{0,99})$")
MESSAGE_LIMIT = 2_000  # a refusal must stay readable, whatever the input size


def refused(op: Any, sim: Simulator, scan: LeakScan, *expected: str) -> str:
    """Run `op`: it must fail fast naming each `expected` text, with no request at all."""
    run = run_operator(op, sim, scan)
    assert isinstance(run.error, AirflowFailException), repr(run.error)
    message = str(run.error)
    assert message.startswith("invalid input, nothing was sent to HubSpot"), message[:300]
    for text in expected:
        assert text in message, (text, message[:500])
    assert len(message) < MESSAGE_LIMIT
    assert sim.counters()["requests"] == 0
    assert sim.state.edges(FT, TT) == run.before
    return message


@pytest.fixture
def sim(rel_sim: MakeSim) -> Simulator:
    return rel_sim()


# -- object types ----------------------------------------------------------------------------------

NASTY_TYPES = [
    "../contacts",
    "contacts/../../oauth",
    "contacts%2F..",
    "%2e%2e",
    "con tacts",
    " contacts",
    "contacts ",
    "",
    "contàcts",
    "контакты",
    "contacts?x=1",
    "contacts#",
    "CONTACTS",
    "0-1/",
    "2-",
    "\x00",
    "contacts\n",
]


@pytest.mark.parametrize("value", NASTY_TYPES)
@pytest.mark.parametrize("side", ["from_object_type", "to_object_type"])
def test_nasty_object_types_are_refused_before_any_request(
    sim: Simulator, leak_scan: LeakScan, side: str, value: str
) -> None:
    refused(batch_op([(1, 101)], **{side: value}), sim, leak_scan, side, repr(value))


@FUZZ
@given(value=st.text(max_size=40))
@example(value="0" * 19 + "\x1f" * 4 + "\U00011375" * 12)  # a repr past the 120-character bound
def test_any_text_that_is_not_an_object_type_is_refused(
    sim: Simulator, leak_scan: LeakScan, value: str
) -> None:
    assume(not OBJECT_TYPE_RE.fullmatch(value))
    # The message names the value as a bounded repr (short_repr): a huge value must not flood logs.
    refused(batch_op([(1, 101)], to_object_type=value), sim, leak_scan, "to_object_type", short_repr(value))


# -- record ids ------------------------------------------------------------------------------------

BAD_IDS = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=MAX_RECORD_ID + 1, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(
        ["", " ", "\t", "1.0", "1e3", "-5", "+5", "0", "٣", "\uff11\uff12", "12 ", " 12", "0x1f", "1_000"]
    ),
    st.text(max_size=12).filter(lambda s: not (s.isascii() and s.isdigit())),
    st.lists(st.integers(1, 5), max_size=2).map(tuple),
    st.dictionaries(st.sampled_from(["ID", "x"]), st.integers(), max_size=1),
)


@FUZZ
@given(
    bad=BAD_IDS,
    position=st.integers(0, 5),
    side=st.sampled_from(["from", "to"]),
)
def test_bad_record_ids_are_refused_naming_the_input(
    sim: Simulator, leak_scan: LeakScan, bad: Any, position: int, side: str
) -> None:
    inputs: list[Any] = [{"from_id": f, "to_id": 101} for f in range(1, 6)]
    assume(not (side == "to" and isinstance(bad, tuple) and len(bad) == 0))
    inputs.insert(position, {"from_id": 1, "to_id": 102, f"{side}_id": bad})
    refused(batch_op(inputs), sim, leak_scan, f"inputs[{position}]", f"{side} id")


@given(
    ids=st.lists(
        st.tuples(st.integers(1, MAX_RECORD_ID), st.integers(1, MAX_RECORD_ID), st.integers(0, 3)),
        min_size=1,
        max_size=30,
    ),
    repeat=st.lists(st.integers(0, 29), max_size=10),
)
@settings(max_examples=60, deadline=None)
def test_valid_ids_in_any_spelling_parse_canonically_and_dedup(
    ids: list[tuple[int, int, int]], repeat: list[int]
) -> None:
    """An int, a digit string, a zero-padded string or HubSpot's wire form name the same record:
    duplicates in any spelling are counted once."""

    def spell(value: int, how: int) -> Any:
        return [value, str(value), "00" + str(value), {"id": str(value)}][how]

    items: list[Any] = []
    for f, t, how in ids:
        items.append({"from_id": spell(f, how), "to_id": spell(t, 3 - how)})
    items += [{"fromId": str(ids[i % len(ids)][0]), "toId": ids[i % len(ids)][1]} for i in repeat]
    unique = {(str(f), str(t)) for f, t, _ in ids}
    report, loaded = load_inputs(items)
    assert {(p.from_id, p.to_id) for p in loaded} == unique
    assert report.requested == len(loaded) == len(unique)
    assert report.duplicates == len(items) - len(unique)
    for f, t, _ in ids:
        assert parse_record_id("0" + str(f)) == str(f)
        assert parse_record_id(t) == str(t)


def test_duplicates_are_sent_once(sim: Simulator, leak_scan: LeakScan, tmp_path: Path) -> None:
    inputs: list[Any] = [
        (1, 101),
        ("1", "101"),
        {"from_id": "0001", "to_id": 101},
        {"from": {"id": "1"}, "to": [{"id": "101"}, {"id": "102"}]},
        {"fromId": 1, "toId": "102"},
        (2, 101),
    ]
    run = run_operator(batch_op(inputs, report_path=str(tmp_path / "r.jsonl")), sim, leak_scan)
    assert run.error is None, repr(run.error)
    totals = run.summary["totals"]
    done = totals["confirmed"] + totals["accepted"]
    assert (totals["requested"], totals["duplicates"], done) == (3, 4, 3)
    assert sim.counters()["archived_pairs"] == 3
    assert archive_requests(sim) == 1
    removed = {("1", "101"), ("1", "102"), ("2", "101")}
    assert sim.state.edges(FT, TT) == {k: v for k, v in run.before.items() if k not in removed}


# -- input shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (None, "inputs is empty"),
        ({"from_id": 1, "to_id": 2}, "single mapping"),
        (42, "not usable"),
        (b"1,2", "not usable"),
        ([(1,)], "inputs[0]"),
        ([(1, 2, 3)], "inputs[0]"),
        ([{"from_id": 1}], "inputs[0]"),
        ([{"from_id": 1, "to_id": []}], "empty list of to ids"),
        ([(1, 101), {"from_id": 1, "to_id": 102, "label": "Decision maker"}], "inputs[1]"),
        ([(1, 101), "1,101"], "inputs[1]"),
        ("", "empty string"),
        ("pairs.txt", "unknown format"),
        ("/nonexistent/pairs.csv", "does not exist"),
    ],
)
def test_unusable_input_shapes_are_refused(
    sim: Simulator, leak_scan: LeakScan, inputs: Any, expected: str
) -> None:
    refused(batch_op(inputs), sim, leak_scan, expected)


@pytest.mark.parametrize("kind", ["list", "csv", "jsonl"])
def test_an_empty_input_refused_only_with_fail_on_empty(
    sim: Simulator, leak_scan: LeakScan, tmp_path: Path, kind: str
) -> None:
    """Issue 23, item 7: an empty input is a run with nothing to do, unless `fail_on_empty`."""
    inputs: Any = []
    if kind != "list":
        path = tmp_path / f"pairs.{kind}"
        path.write_text("from_id,to_id\n" if kind == "csv" else "")
        inputs = str(path)
    refused(batch_op(inputs, fail_on_empty=True), sim, leak_scan, "inputs is empty", "fail_on_empty")


@pytest.mark.parametrize("make_op", [batch_op, label_op], ids=["batch", "labels"])
def test_an_empty_input_is_a_run_with_nothing_to_do(
    sim: Simulator, leak_scan: LeakScan, make_op: Any
) -> None:
    """A nightly query with nothing to do: the task succeeds with zero totals and asks HubSpot
    nothing, not even the label list."""
    run = run_operator(make_op([]), sim, leak_scan)
    assert run.error is None, repr(run.error)
    assert run.summary["totals"]["requested"] == 0
    assert sim.counters()["requests"] == 0
    assert sim.state.edges(FT, TT) == run.before


# -- two names for one side (issue 23, item 6) -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("pairs.csv", "from_id,to_id,from_id\n1,101,2\n", ("line 1", "(columns 1 and 3)")),
        ("pairs.csv", "fromId,to_id,from_id\n1,101,2\n", ("line 1", "'fromId' and 'from_id'")),
        ("pairs.csv", "from_id,to,to_id\n1,101,102\n", ("line 1", "'to' and 'to_id'")),
        ("pairs.jsonl", '{"to_id": 101, "from_id": 1, "from_id": 2}', ("line 1", "'from_id' appears twice")),
        ("pairs.jsonl", '{"from_id": 1, "to_id": 101, "to": 102}\n', ("line 1", "'to_id' and 'to'")),
    ],
)  # fmt: skip
def test_a_file_naming_a_side_twice_is_refused_before_any_request(
    sim: Simulator, leak_scan: LeakScan, tmp_path: Path, name: str, content: str, expected: tuple[str, ...]
) -> None:
    """Today one of the two names wins silently, and the wrong association is removed."""
    path = tmp_path / name
    path.write_text(content)
    refused(batch_op(str(path)), sim, leak_scan, str(path), *expected)


def test_a_list_item_naming_a_side_twice_is_refused_before_any_request(
    sim: Simulator, leak_scan: LeakScan
) -> None:
    inputs = [(2, 102), {"from_id": 1, "from": 2, "to_id": 101}]
    refused(batch_op(inputs), sim, leak_scan, "inputs[1]", "'from_id' and 'from' both name the from id")


def test_a_label_named_twice_is_refused_before_the_labels_lookup(sim: Simulator, leak_scan: LeakScan) -> None:
    inputs = [{"from_id": 1, "to_id": 101, "label": "Decision maker", "types": "USER_DEFINED:37"}]
    refused(label_op(inputs), sim, leak_scan, "inputs[0]", "'label' and 'types' both name the label")


@FUZZ
@given(
    position=st.integers(0, 8), bad=st.sampled_from(["1,abc", "1", "1,2,3", "-1,101", "1,", "1,  ", ",101"])
)
def test_a_bad_csv_row_is_named_by_file_and_line(
    sim: Simulator, leak_scan: LeakScan, tmp_path_factory: pytest.TempPathFactory, position: int, bad: str
) -> None:
    rows = [f"{f},{100 + f}" for f in range(1, 9)]
    rows.insert(position, bad)
    path = tmp_path_factory.mktemp("csv") / "pairs.csv"
    path.write_text("from_id,to_id\n" + "\n".join(rows) + "\n")
    refused(batch_op(str(path)), sim, leak_scan, f"{path} line {position + 2}")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"from_id": 1, "to_id": 101}\n{"from_id": 1, "to_id": \n', "line 2: malformed JSON"),
        ('{"from_id": 1, "to_id": 101}\n[1, 2, 3]\n', "line 2"),
        ('{"from_id": 1, "to_id": 101}\n\n{"from_id": 1.5, "to_id": 101}\n', "line 3: from id 1.5"),
    ],
)
def test_bad_jsonl_lines_are_named(
    sim: Simulator, leak_scan: LeakScan, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(content)
    refused(batch_op(str(path)), sim, leak_scan, expected)


def test_a_csv_without_the_id_columns_is_refused(sim: Simulator, leak_scan: LeakScan, tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("contact,company\n1,101\n")
    refused(batch_op(str(path)), sim, leak_scan, "line 1", "needs a from column")


# -- oversized input -------------------------------------------------------------------------------


def test_an_oversized_bogus_id_gives_a_bounded_message(sim: Simulator, leak_scan: LeakScan) -> None:
    """A 1 MB bogus id must not be echoed whole into the task's exception and logs."""
    refused(batch_op([(1, 101), (1, "x" * 1_000_000)]), sim, leak_scan, "inputs[1]", "to id")


@pytest.mark.parametrize("where", ["list", "jsonl-string", "jsonl-number"])
def test_an_id_of_thousands_of_digits_is_refused_naming_the_input(
    sim: Simulator, leak_scan: LeakScan, tmp_path: Path, where: str
) -> None:
    digits = "9" * 5_000
    if where == "list":
        refused(batch_op([(1, 101), (1, digits)]), sim, leak_scan, "inputs[1]", "to id")
        return
    path = tmp_path / "pairs.jsonl"
    value = json.dumps(digits) if where == "jsonl-string" else digits
    path.write_text('{"from_id": 1, "to_id": 101}\n{"from_id": 1, "to_id": ' + value + "}\n")
    refused(batch_op(str(path)), sim, leak_scan, "line 2")


def test_an_oversized_csv_field_is_refused_naming_the_line(
    sim: Simulator, leak_scan: LeakScan, tmp_path: Path
) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("from_id,to_id\n1,101\n1," + "9" * 200_000 + "\n")
    refused(batch_op(str(path)), sim, leak_scan, f"{path} line 3")


def test_a_large_valid_file_with_one_bad_last_line_sends_nothing(
    sim: Simulator, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """Validation reads the whole file before the first archive request: a bad line 50,002 means
    nothing at all was archived (no half-done run)."""
    path = tmp_path / "pairs.csv"
    with path.open("w") as handle:
        handle.write("from_id,to_id\n")
        for n in range(50_000):
            handle.write(f"{1 + n % 8},{101 + n % 8}\n")
        handle.write("1,not-an-id\n")
    refused(batch_op(str(path)), sim, leak_scan, f"{path} line 50002")


# -- labels ----------------------------------------------------------------------------------------


def test_unknown_label_name_is_refused_after_only_the_labels_lookup(
    sim: Simulator, leak_scan: LeakScan
) -> None:
    op = label_op([[1, 101, "Decision maker"], [2, 101, "Chief Vibes Officer"]])
    run = run_operator(op, sim, leak_scan)
    assert isinstance(run.error, AirflowFailException)
    message = str(run.error)
    assert "inputs[1]" in message
    assert "'chief vibes officer'" in message
    assert "Decision maker" in message  # the available labels are listed
    assert sim.counters()["by_endpoint"]["labels"] == 1
    assert archive_requests(sim, "labels_archive") == 0
    assert sim.state.edges(FT, TT) == run.before


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "HUBSPOT_DEFINED:36",
            "label type HUBSPOT_DEFINED:36 is not defined",
        ),  # the label is USER_DEFINED:36
        (["USER_DEFINED", 999], "label type USER_DEFINED:999 is not defined"),  # no such label
    ],
)
def test_an_undefined_label_type_is_refused_after_only_the_labels_lookup(
    sim: Simulator, leak_scan: LeakScan, spec: Any, expected: str
) -> None:
    """HubSpot answers "done" for a label type the pair does not carry, and the label stays: such a
    type must be refused before any archive request, as an unknown name is (issue 18, item 6)."""
    run = run_operator(label_op([[1, 101, ["USER_DEFINED", 36]], [2, 101, spec]]), sim, leak_scan)
    assert isinstance(run.error, AirflowFailException), repr(run.error)
    message = str(run.error)
    assert message.startswith("invalid input, nothing was sent to HubSpot: inputs[1]: "), message
    assert expected in message
    assert "'Decision maker' = USER_DEFINED:36" in message  # the labels that exist are listed
    assert len(message) < MESSAGE_LIMIT
    assert sim.counters()["by_endpoint"]["labels"] == 1
    assert archive_requests(sim, "labels_archive") == 0
    assert sim.state.edges(FT, TT) == run.before


def test_an_oversized_csv_header_is_refused_briefly(
    sim: Simulator, leak_scan: LeakScan, tmp_path: Path
) -> None:
    """`from_id,to_id` then 50 MB of commas: refused with a short message (it was 104 MB long)."""
    path = tmp_path / "pairs.csv"
    with path.open("wb") as handle:
        handle.write(b"from_id,to_id" + b"," * (50 << 20) + b"\n1,101\n")
    refused(batch_op(str(path)), sim, leak_scan, f"{path} line 1: longer than")


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ([["USER_DEFINED", 0]], "out of range"),
        ([["USER_DEFINED", -36]], "type id -36"),
        ([["USER_DEFINED", 2**31]], "out of range"),
        ([["USER_DEFINED", 36.0]], "type id 36.0 is not a type id"),
        ([["USER_DEFINED", "\u00b2"]], "ASCII digits only"),
        (["USER_DEFINED:\u0663\u0666"], "ASCII digits only"),
        ([["MADE_UP", 36]], "category 'MADE_UP' is unknown"),
        ([{"category": "USER_DEFINED"}], "needs both a category and a type id"),
        ([], "empty"),
        ([""], "empty label name"),
        ([True], "not usable"),
    ],
)
def test_bad_label_specs_are_refused_before_any_request(
    sim: Simulator, leak_scan: LeakScan, types: Any, expected: str
) -> None:
    op = label_op([{"from_id": 1, "to_id": 101, "types": [["USER_DEFINED", 36]]}, [2, 101, types]])
    refused(op, sim, leak_scan, "inputs[1]", expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"batch_size": True},
        {"max_concurrency": 0},
        {"on_error": "retry"},
        {"on_error": "threshold"},
        {"on_error": "threshold", "max_error_ratio": 1.5},
    ],
)
def test_bad_operator_arguments_are_refused_at_parse_time(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        batch_op([(1, 101)], **kwargs)


def test_batch_size_above_the_connection_maximum_fails_fast(sim: Simulator, leak_scan: LeakScan) -> None:
    run = run_operator(batch_op([(1, 101)], batch_size=500), sim, leak_scan)
    assert isinstance(run.error, AirflowFailException)
    assert "batch_size 500" in str(run.error)
    assert sim.counters()["requests"] == 0
