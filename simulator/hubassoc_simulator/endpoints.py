"""The association endpoints' logic: validate a body, change the state, build HubSpot's reply.

Pure functions of (state, config, object types, body, reply mode); HTTP, auth and faults live in
`server`. Which reply a version sends is decided there (`SimulatorConfig.archive_reply` etc.).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, unquote

from hubassoc_simulator import facts, replies
from hubassoc_simulator.config import SimulatorConfig, TokenSpec
from hubassoc_simulator.replies import Reply
from hubassoc_simulator.state import Label, SimulatorState

WRITE_ENDPOINTS = frozenset({"batch_archive", "labels_archive", "batch_create"})
ARCHIVE_ENDPOINTS = frozenset({"batch_archive", "labels_archive"})
_CURSOR_PREFIX = "sim-after-"
_T = TypeVar("_T")


@dataclass
class Outcome:
    """A reply plus what the counters need: inputs in the body, pairs applied, pairs silently dropped."""

    reply: Reply
    inputs: int = 0
    pairs: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class _LabelInput:
    """One input of labels archive and batch create: a pair and the types named for it."""

    from_id: str
    to_id: str
    labels: frozenset[Label]
    types: list[Any]  # as sent, echoed in results


class _Invalid(Exception):
    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.reply = replies.validation_error(message, where)


def required_scopes(endpoint: str, from_type: str, to_type: str) -> list[str]:
    """Write scopes for both types to change associations, read scopes otherwise; custom objects share one."""
    access = "write" if endpoint in WRITE_ENDPOINTS else "read"
    out: list[str] = []
    for object_type in (from_type, to_type):
        name = "custom" if facts.is_custom_type(object_type) else object_type
        scope = f"crm.objects.{name}.{access}"
        if scope not in out:
            out.append(scope)
    return out


# ----- request bodies -------------------------------------------------------------------------
def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"Invalid input: {where} must be an object", where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _Invalid(f"Invalid input: {where} must be a non-empty list", where)
    return value


def _inputs(body: bytes, limit: int) -> list[Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Invalid(f"Invalid input JSON: {exc}") from None
    except RecursionError:
        raise _Invalid("Invalid input JSON: nested too deeply") from None
    inputs = _object(data, "body").get("inputs")
    if not isinstance(inputs, list):
        raise _Invalid("Invalid input: inputs is required and must be a list", "inputs")
    if len(inputs) > limit:
        raise _Invalid(
            f"Batch input is too large: {len(inputs)} inputs, at most {limit} are allowed", "inputs"
        )
    return inputs


def _id(container: Any, where: str) -> str:
    value = _object(container, where).get("id")
    if value is None:
        raise _Invalid(f"Invalid input: {where}.id is required", f"{where}.id")
    record = facts.record_id(value)
    if record is None:
        raise _Invalid(f"Invalid input: {where}.id {str(value)[:40]!r} is not a record id", f"{where}.id")
    return record


def _label(spec: Any, where: str) -> Label:
    category = _object(spec, where).get("associationCategory")
    if not isinstance(category, str) or category not in facts.CATEGORIES:
        raise _Invalid(f"Invalid input: {where}.associationCategory {str(category)[:40]!r}", where)
    type_id = facts.type_id(spec.get("associationTypeId"))
    if type_id is None:
        raise _Invalid(
            f"Invalid input: {where}.associationTypeId must be an integer from 1 to {facts.INT32_MAX}", where
        )
    return (category, type_id)


def _label_input(item: Any, where: str) -> _LabelInput:
    fid = _id(_object(item, where).get("from"), f"{where}.from")
    tid = _id(item.get("to"), f"{where}.to")
    types = _list(item.get("types"), f"{where}.types")
    labels = frozenset(_label(t, f"{where}.types[{j}]") for j, t in enumerate(types))
    return _LabelInput(fid, tid, labels, types)


def _archive_input(item: Any, where: str) -> tuple[str, list[str]]:
    fid = _id(_object(item, where).get("from"), f"{where}.from")
    tos = _list(item.get("to"), f"{where}.to")
    return fid, [_id(t, f"{where}.to[{j}]") for j, t in enumerate(tos)]


def encode_cursor(to_id: str) -> str:
    """An opaque paging cursor that looks like HubSpot's (URL-quoted base64)."""
    return quote(base64.b64encode(f"{_CURSOR_PREFIX}{to_id}".encode()).decode(), safe="")


def decode_cursor(cursor: Any, where: str) -> int:
    """The last to id of the previous page; anything this simulator did not hand out is a 400."""
    try:
        text = base64.b64decode(unquote(cursor), validate=True).decode("ascii") if cursor else ""
    except (TypeError, ValueError, binascii.Error, UnicodeDecodeError):
        text = ""
    last = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or facts.record_id(last) is None:
        raise _Invalid(f"Invalid input: {where} {str(cursor)[:40]!r} is not a cursor", where)
    return int(last)


def _parsed(body: bytes, limit: int, parse: Callable[[Any, str], _T]) -> list[_T]:
    """Every input of a body through `parse`, each told where it is (`inputs[3]`)."""
    return [parse(item, f"inputs[{i}]") for i, item in enumerate(_inputs(body, limit))]


def _read_input(item: Any, where: str) -> tuple[str, int]:
    fid = _id(item, where)
    after = item.get("after")
    return fid, 0 if after is None else decode_cursor(after, f"{where}.after")


# ----- replies --------------------------------------------------------------------------------
def _not_found(object_type: str, ids: list[str], where: str, context: dict[str, list[str]]) -> dict[str, Any]:
    message = f"No {object_type} record(s) with id(s) {', '.join(ids)} exist"
    return replies.error_item("OBJECT_NOT_FOUND", message, {"objectType": [object_type], **context}, where)


def _missing_record(
    state: SimulatorState, ft: str, tt: str, fid: str, tid: str, where: str, to_where: str = "to"
) -> dict[str, Any] | None:
    """The per-input error for a pair naming a record that does not exist, or None."""
    context = {"fromObjectId": [fid], "toObjectId": [tid]}
    if not state.has_record(ft, fid):
        return _not_found(ft, [fid], f"{where}.from.id", context)
    if not state.has_record(tt, tid):
        return _not_found(tt, [tid], f"{where}.{to_where}.id", context)
    return None


def _archive_reply(
    config: SimulatorConfig, mode: str, started: str, results: list[Any], errors: list[dict[str, Any]]
) -> Reply:
    """Mode 204: no body (failures unreported); 200: a body with the errors inside; 207: 207 on failures."""
    if mode == "204":
        return Reply(204)
    status = 207 if errors and mode == "207" else 200
    return Reply(status, replies.batch_body(config.batch_status, results, errors, started))


def _dropped(config: SimulatorConfig, fid: str, tid: str) -> bool:
    return (fid, tid) in config.silent_drops


# ----- the endpoints --------------------------------------------------------------------------
def batch_archive(
    state: SimulatorState,
    config: SimulatorConfig,
    ft: str,
    tt: str,
    body: bytes,
    mode: str,
    ghost_until: float,
) -> Outcome:
    """Remove whole edges (both directions). Unknown records fail per pair; absent edges succeed."""
    started = replies.now_iso()
    try:
        parsed = _parsed(body, config.max_inputs, _archive_input)
    except _Invalid as exc:
        return Outcome(exc.reply)
    outcome = Outcome(Reply(200), len(parsed))
    results: list[Any] = []
    errors: list[dict[str, Any]] = []
    with state.lock:
        for i, (fid, tids) in enumerate(parsed):
            done: list[str] = []
            for j, tid in enumerate(tids):
                error = _missing_record(state, ft, tt, fid, tid, f"inputs[{i}]", f"to[{j}]")
                if error is not None:
                    errors.append(error)
                elif _dropped(config, fid, tid):
                    outcome.dropped += 1
                    done.append(tid)
                else:
                    state.archive_pair(ft, fid, tt, tid, ghost_until)
                    outcome.pairs += 1
                    done.append(tid)
            if done:
                results.append({"from": {"id": fid}, "to": [{"id": t} for t in done]})
    outcome.reply = _archive_reply(config, mode, started, results, errors)
    return outcome


def _known_inputs(
    state: SimulatorState, ft: str, tt: str, parsed: list[_LabelInput], errors: list[dict[str, Any]]
) -> Iterator[_LabelInput]:
    """The inputs whose two records exist; each other one gets its per-input error, as HubSpot does."""
    for i, item in enumerate(parsed):
        error = _missing_record(state, ft, tt, item.from_id, item.to_id, f"inputs[{i}]")
        if error is None:
            yield item
        else:
            errors.append(error)


def labels_archive(
    state: SimulatorState,
    config: SimulatorConfig,
    ft: str,
    tt: str,
    body: bytes,
    mode: str,
    ghost_until: float,
) -> Outcome:
    """Remove named labels; the pair's unlabeled type removes every label (HubSpot's documented rule)."""
    started = replies.now_iso()
    try:
        parsed = _parsed(body, config.max_inputs, _label_input)
    except _Invalid as exc:
        return Outcome(exc.reply)
    outcome = Outcome(Reply(200), len(parsed))
    results: list[Any] = []
    errors: list[dict[str, Any]] = []
    with state.lock:
        for item in _known_inputs(state, ft, tt, parsed, errors):
            if _dropped(config, item.from_id, item.to_id):
                outcome.dropped += 1
            else:
                state.archive_labels(ft, item.from_id, tt, item.to_id, set(item.labels), ghost_until)
                outcome.pairs += 1
            results.append({"from": {"id": item.from_id}, "to": {"id": item.to_id}, "types": item.types})
    outcome.reply = _archive_reply(config, mode, started, results, errors)
    return outcome


def _created(config: SimulatorConfig, ft: str, tt: str, item: _LabelInput) -> list[Label]:
    """The types batch create adds: those named, plus the unlabeled one if so configured."""
    labels = set(item.labels)
    unlabeled = facts.DEFAULT_TYPE_IDS.get((ft, tt))
    if config.create_adds_unlabeled and unlabeled is not None:
        labels.add((facts.HUBSPOT_DEFINED, unlabeled))
    return sorted(labels)


LIMIT_SUB_CATEGORY = "crm.associations.ASSOCIATION_LIMIT_EXCEEDED"


def _past_a_limit(
    state: SimulatorState,
    config: SimulatorConfig,
    ft: str,
    tt: str,
    item: _LabelInput,
    created: list[Label],
    where: str,
) -> dict[str, Any] | None:
    """The per-input error of a create that would take the from record past an admin's cap on a
    type (or label) it adds, or None. The other inputs of the batch are unaffected."""
    if not config.association_limits:
        return None
    held = state.labels_of(ft, item.from_id, tt, item.to_id)
    for category, type_id in created:
        if (category, type_id) in held:
            continue  # already there: creating it again takes no new slot
        limit = config.association_limits.get(f"{ft}/{tt}/{category}:{type_id}")
        if limit is None:
            continue
        count = state.count_with_type(ft, item.from_id, tt, (category, type_id))
        if count >= limit:
            message = (
                f"Association limit exceeded: {ft} {item.from_id} already has {count} {tt} associations "
                f"of type {category}:{type_id}, the limit is {limit}."
            )
            context = {"fromObjectId": [item.from_id], "toObjectId": [item.to_id]}
            error = replies.error_item("VALIDATION_ERROR", message, context, where)
            error["subCategory"] = {"code": LIMIT_SUB_CATEGORY}  # an object in a batch error item
            return error
    return None


def batch_create(
    state: SimulatorState, config: SimulatorConfig, ft: str, tt: str, body: bytes, mode: str
) -> Outcome:
    """Add the named types (both directions, as HubSpot does); 207 when some records do not exist.

    Creating an association that already exists succeeds (replaying a restore must be safe).
    """
    started = replies.now_iso()
    try:
        parsed = _parsed(body, config.max_inputs, _label_input)
    except _Invalid as exc:
        return Outcome(exc.reply)
    results: list[Any] = []
    errors: list[dict[str, Any]] = []
    with state.lock:
        for i, item in enumerate(_known_inputs(state, ft, tt, parsed, errors)):
            created = _created(config, ft, tt, item)
            refusal = _past_a_limit(state, config, ft, tt, item, created, f"inputs[{i}]")
            if refusal is not None:
                errors.append(refusal)
                continue
            state.add_association(ft, item.from_id, tt, item.to_id, created, mirror=True)
            names = sorted(n for n in (state.label_name((ft, tt), label) for label in item.labels) if n)
            results.append(
                {
                    "fromObjectId": item.from_id,
                    "fromObjectTypeId": facts.type_id_of(ft),
                    "toObjectId": item.to_id,
                    "toObjectTypeId": facts.type_id_of(tt),
                    "labels": names,
                }
            )
    status = 207 if errors else int(mode)
    body_out = replies.batch_body("COMPLETE", results, errors, started)
    return Outcome(Reply(status, body_out), len(parsed), len(results))


def _association_types(
    state: SimulatorState, pair: tuple[str, str], labels: set[Label]
) -> list[dict[str, Any]]:
    """`associationTypes[]` of a read result: `label` only where the type has one (absent, not null)."""
    out: list[dict[str, Any]] = []
    for category, type_id in sorted(labels):
        item: dict[str, Any] = {"category": category, "typeId": type_id}
        name = state.label_name(pair, (category, type_id))
        if name is not None:
            item["label"] = name
        out.append(item)
    return out


def _read_one(
    state: SimulatorState, config: SimulatorConfig, ft: str, tt: str, fid: str, after: int, now: float
) -> dict[str, Any]:
    rows = [row for row in state.read(ft, tt, fid, now) if int(row[0]) > after]
    page = rows[: config.read_page_size]
    result: dict[str, Any] = {
        "from": {"id": fid},
        "to": [
            {"toObjectId": tid, "associationTypes": _association_types(state, (ft, tt), labels)}
            for tid, labels in page
        ],
    }
    if len(rows) > len(page):
        result["paging"] = {"next": {"after": encode_cursor(page[-1][0])}}
    return result


def _read_failure(fid: str, where: str) -> dict[str, Any]:
    """A per-input error that is not a not-found: it says nothing about the record's associations."""
    message = f"Could not read the associations of {fid}; try again later."
    return replies.error_item("INTERNAL_ERROR", message, {"fromObjectId": [fid]}, where)


def _no_associations(ft: str, tt: str, fid: str, where: str) -> dict[str, Any]:
    item = replies.error_item(
        "OBJECT_NOT_FOUND", f"No {tt} is associated with {ft} {fid}.", {"fromObjectId": [fid]}, where
    )
    item["subCategory"] = {"code": "crm.associations.NO_ASSOCIATIONS_FOUND"}
    return item


def batch_read(
    state: SimulatorState, config: SimulatorConfig, ft: str, tt: str, body: bytes, mode: str
) -> Outcome:
    """Each from record's `to` records with their labels, `read_page_size` per page, opaque cursor `after`."""
    started = replies.now_iso()
    try:
        parsed = _parsed(body, config.read_max_inputs, _read_input)
    except _Invalid as exc:
        return Outcome(exc.reply)
    results: list[Any] = []
    errors: list[dict[str, Any]] = []
    now = time.monotonic()
    for i, (fid, after) in enumerate(parsed):
        if not state.has_record(ft, fid):
            errors.append(_not_found(ft, [fid], f"inputs[{i}].id", {"fromObjectId": [fid]}))
            continue
        if fid in config.read_failures:
            errors.append(_read_failure(fid, f"inputs[{i}].id"))
            continue
        result = _read_one(state, config, ft, tt, fid, after, now)
        if not result["to"] and config.read_empty_as_error:
            errors.append(_no_associations(ft, tt, fid, f"inputs[{i}].id"))
            continue
        results.append(result)
    status = 207 if errors and mode == "207" else 200
    return Outcome(Reply(status, replies.batch_body("COMPLETE", results, errors, started)), len(parsed))


def labels(state: SimulatorState, ft: str, tt: str, version: str) -> Outcome:
    """Label definitions between two types; `label` absent (not null) for unlabeled types.

    2026-03 also names the object type ids (optional fields of that version's description).
    """
    definitions = [
        {key: value for key, value in d.items() if value is not None} for d in state.label_definitions(ft, tt)
    ]
    if version == "2026-03":
        type_ids = {"fromObjectTypeId": facts.type_id_of(ft), "toObjectTypeId": facts.type_id_of(tt)}
        definitions = [{**d, **type_ids} for d in definitions]
    return Outcome(Reply(200, {"results": definitions}))


# ----- OAuth ----------------------------------------------------------------------------------
def _oauth_error(status: str, message: str) -> Reply:
    """HubSpot's OAuth errors name the problem in `status`; `category` carries it too (the Error shape)."""
    return Reply(
        400, {"status": status, "category": status, "message": message, "correlationId": str(uuid.uuid4())}
    )


def _oauth_refusal(config: SimulatorConfig, form: dict[str, str]) -> Reply | None:
    grant = form.get("grant_type")
    if grant not in ("refresh_token", "client_credentials"):
        message = "grant_type must be one of authorization_code, refresh_token, client_credentials"
        return _oauth_error("BAD_GRANT_TYPE", message)
    if form.get("client_id") != config.oauth_client_id:
        return _oauth_error("BAD_CLIENT_ID", "missing or invalid client_id")
    if form.get("client_secret") != config.oauth_client_secret:
        return _oauth_error("BAD_CLIENT_SECRET", "missing or invalid client_secret")
    if grant == "refresh_token" and form.get("refresh_token") not in config.refresh_tokens:
        return _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
    return None


def oauth_token(config: SimulatorConfig, body: bytes) -> tuple[Reply, str | None, TokenSpec | None]:
    """The refresh_token and client_credentials grants: a new access token living `oauth_expires_in` s."""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    refusal = _oauth_refusal(config, form)
    if refusal is not None:
        return refusal, None, None
    token = "sim-oauth-" + secrets.token_hex(16)
    spec = TokenSpec(scopes=config.oauth_scopes, expires_at=time.time() + config.oauth_expires_in, oauth=True)
    reply: dict[str, Any] = {
        "token_type": "bearer",
        "access_token": token,
        "expires_in": config.oauth_expires_in,
        "token_use": "access_token",
    }
    if form["grant_type"] == "client_credentials":
        reply["token_use"] = "client_credentials"  # noqa: S105 - a grant name, not a secret
    else:
        reply["refresh_token"] = form["refresh_token"]
    if config.oauth_scopes is not None:
        reply["scopes"] = sorted(config.oauth_scopes)
    return Reply(200, reply), token, spec


def account_details(config: SimulatorConfig, *, legacy: bool) -> Outcome:
    """`GET /account-info/.../details` (or the legacy `/integrations/v1/me`): the token's account."""
    if config.account_info_forbidden:
        return Outcome(replies.missing_scopes(["oauth"]))
    if legacy:
        return Outcome(
            Reply(200, {"portalId": config.portal_id, "timeZone": "US/Eastern", "currency": "USD"})
        )
    body = {
        "portalId": config.portal_id,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "dataHostingLocation": "na1",
        "uiDomain": "app.hubspot.com",
    }
    return Outcome(Reply(200, body))
