"""The association endpoints' logic: validate a body, change the state, build HubSpot's reply.

Pure functions of (state, config, object types, body); HTTP, auth and faults live in `server`.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from airflow_provider_hubassoc.models import AssociationCategory, InputValidationError, parse_record_id
from airflow_provider_hubassoc.simulator import replies
from airflow_provider_hubassoc.simulator.config import SimulatorConfig, TokenSpec
from airflow_provider_hubassoc.simulator.replies import Reply
from airflow_provider_hubassoc.simulator.state import SimulatorState, is_custom_type

_CATEGORIES = frozenset(c.value for c in AssociationCategory)
WRITE_ENDPOINTS = frozenset({"batch_archive", "labels_archive"})


@dataclass
class Outcome:
    """A reply plus what the counters need: inputs in the body, pairs archived without error."""

    reply: Reply
    inputs: int = 0
    pairs: int = 0


class _Invalid(Exception):
    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.reply = replies.validation_error(message, where)


def required_scopes(endpoint: str, from_type: str, to_type: str) -> list[str]:
    """Write scopes for both types to archive, read scopes otherwise; custom objects share one scope."""
    access = "write" if endpoint in WRITE_ENDPOINTS else "read"
    out: list[str] = []
    for object_type in (from_type, to_type):
        name = "custom" if is_custom_type(object_type) else object_type
        scope = f"crm.objects.{name}.{access}"
        if scope not in out:
            out.append(scope)
    return out


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"Invalid input: {where} must be an object", where)
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
    try:
        return parse_record_id(value, field=f"{where}.id")
    except InputValidationError as exc:
        raise _Invalid(f"Invalid input: {exc}", f"{where}.id") from None


def _not_found(object_type: str, ids: list[str], where: str, context: dict[str, list[str]]) -> dict[str, Any]:
    message = f"No {object_type} record(s) with id(s) {', '.join(ids)} exist"
    return replies.error_item("OBJECT_NOT_FOUND", message, {"objectType": [object_type], **context}, where)


def _archive_reply(
    config: SimulatorConfig, started: str, results: list[Any], errors: list[dict[str, Any]], with_body: bool
) -> Reply:
    if errors:
        return Reply(207, replies.batch_body(config.batch_status, results, errors, started))
    if with_body:
        return Reply(200, replies.batch_body(config.batch_status, results, errors, started))
    return Reply(204)


def batch_archive(
    state: SimulatorState,
    config: SimulatorConfig,
    ft: str,
    tt: str,
    body: bytes,
    with_body: bool,
    ghost_until: float,
) -> Outcome:
    """Remove whole edges (both directions). Unknown records fail per pair; absent edges succeed."""
    started = replies.now_iso()
    try:
        raw = _inputs(body, config.max_inputs)
        parsed: list[tuple[str, list[str]]] = []
        for i, item in enumerate(raw):
            where = f"inputs[{i}]"
            fid = _id(_object(item, where).get("from"), f"{where}.from")
            tos = item.get("to")
            if not isinstance(tos, list) or not tos:
                raise _Invalid(f"Invalid input: {where}.to must be a non-empty list", f"{where}.to")
            parsed.append((fid, [_id(t, f"{where}.to[{j}]") for j, t in enumerate(tos)]))
    except _Invalid as exc:
        return Outcome(exc.reply)
    results: list[Any] = []
    errors: list[dict[str, Any]] = []
    pairs = 0
    with state.lock:
        for i, (fid, tids) in enumerate(parsed):
            where = f"inputs[{i}]"
            if not state.has_record(ft, fid):
                errors.append(
                    _not_found(ft, [fid], f"{where}.from.id", {"fromObjectId": [fid], "toObjectId": tids})
                )
                continue
            done: list[str] = []
            for j, tid in enumerate(tids):
                if not state.has_record(tt, tid):
                    context = {"fromObjectId": [fid], "toObjectId": [tid]}
                    errors.append(_not_found(tt, [tid], f"{where}.to[{j}].id", context))
                    continue
                state.archive_pair(ft, fid, tt, tid, ghost_until)
                done.append(tid)
            if done:
                pairs += len(done)
                results.append({"from": {"id": fid}, "to": [{"id": t} for t in done]})
    return Outcome(_archive_reply(config, started, results, errors, with_body), len(parsed), pairs)


def labels_archive(
    state: SimulatorState,
    config: SimulatorConfig,
    ft: str,
    tt: str,
    body: bytes,
    with_body: bool,
    ghost_until: float,
) -> Outcome:
    """Remove named labels; the pair's unlabeled type removes every label (HubSpot's documented rule)."""
    started = replies.now_iso()
    try:
        raw = _inputs(body, config.max_inputs)
        parsed: list[tuple[str, str, set[tuple[str, int]], list[Any]]] = []
        for i, item in enumerate(raw):
            where = f"inputs[{i}]"
            fid = _id(_object(item, where).get("from"), f"{where}.from")
            tid = _id(item.get("to"), f"{where}.to")
            types = item.get("types")
            if not isinstance(types, list) or not types:
                raise _Invalid(f"Invalid input: {where}.types must be a non-empty list", f"{where}.types")
            labels: set[tuple[str, int]] = set()
            for j, t in enumerate(types):
                spot = f"{where}.types[{j}]"
                category = _object(t, spot).get("associationCategory")
                type_id = t.get("associationTypeId")
                if not isinstance(category, str) or category not in _CATEGORIES:
                    raise _Invalid(f"Invalid input: {spot}.associationCategory {category!r}", spot)
                if not isinstance(type_id, int) or isinstance(type_id, bool) or type_id < 1:
                    raise _Invalid(f"Invalid input: {spot}.associationTypeId {type_id!r}", spot)
                labels.add((str(category), type_id))
            parsed.append((fid, tid, labels, types))
    except _Invalid as exc:
        return Outcome(exc.reply)
    results: list[Any] = []
    errors: list[dict[str, Any]] = []
    with state.lock:
        for i, (fid, tid, labels, types) in enumerate(parsed):
            context = {"fromObjectId": [fid], "toObjectId": [tid]}
            if not state.has_record(ft, fid):
                errors.append(_not_found(ft, [fid], f"inputs[{i}].from.id", context))
            elif not state.has_record(tt, tid):
                errors.append(_not_found(tt, [tid], f"inputs[{i}].to.id", context))
            else:
                state.archive_labels(ft, fid, tt, tid, labels, ghost_until)
                results.append({"from": {"id": fid}, "to": {"id": tid}, "types": types})
    reply = _archive_reply(config, started, results, errors, with_body)
    return Outcome(reply, len(parsed), len(results))


def batch_read(state: SimulatorState, config: SimulatorConfig, ft: str, tt: str, body: bytes) -> Outcome:
    """Each from record's `to` records with their labels, `read_page_size` per page, cursor `after`."""
    started = replies.now_iso()
    try:
        raw = _inputs(body, config.read_max_inputs)
        parsed: list[tuple[str, int]] = []
        for i, item in enumerate(raw):
            fid = _id(item, f"inputs[{i}]")
            after = item.get("after")
            # isascii: str.isdigit also accepts digits int() refuses ("\u00b2") or reads oddly.
            if after is not None and (
                not isinstance(after, str) or not (after.isascii() and after.isdigit())
            ):
                raise _Invalid(
                    f"Invalid input: inputs[{i}].after {after!r} is not a cursor", f"inputs[{i}].after"
                )
            parsed.append((fid, int(after) if after else 0))
    except _Invalid as exc:
        return Outcome(exc.reply)
    results: list[Any] = []
    errors: list[dict[str, Any]] = []
    size = config.read_page_size
    pair = (ft, tt)
    now = time.monotonic()
    for i, (fid, after) in enumerate(parsed):
        if not state.has_record(ft, fid):
            errors.append(_not_found(ft, [fid], f"inputs[{i}].id", {"fromObjectId": [fid]}))
            continue
        rows = state.read(ft, tt, fid, now)
        if after:
            rows = [row for row in rows if int(row[0]) > after]
        if not rows and config.read_empty_as_error:
            item = replies.error_item(
                "OBJECT_NOT_FOUND",
                f"No {tt} is associated with {ft} {fid}.",
                {"fromObjectId": [fid]},
                f"inputs[{i}].id",
            )
            item["subCategory"] = "crm.associations.NO_ASSOCIATIONS_FOUND"
            errors.append(item)
            continue
        page = rows[:size]
        result: dict[str, Any] = {
            "from": {"id": fid},
            "to": [
                {
                    "toObjectId": int(tid),
                    "associationTypes": [
                        {"category": c, "typeId": t, "label": state.label_name(pair, (c, t))}
                        for c, t in sorted(labels)
                    ],
                }
                for tid, labels in page
            ],
        }
        if len(rows) > size:
            result["paging"] = {"next": {"after": page[-1][0]}}
        results.append(result)
    status = 207 if errors else 200
    return Outcome(Reply(status, replies.batch_body("COMPLETE", results, errors, started)), len(parsed))


def labels(state: SimulatorState, ft: str, tt: str) -> Outcome:
    return Outcome(Reply(200, {"results": state.label_definitions(ft, tt)}))


def _oauth_error(status: str, message: str) -> Reply:
    return Reply(400, {"status": status, "message": message, "correlationId": str(uuid.uuid4())})


def oauth_token(config: SimulatorConfig, body: bytes) -> tuple[Reply, str | None, TokenSpec | None]:
    """The refresh_token grant: a new access token living `oauth_expires_in` seconds."""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if form.get("grant_type") != "refresh_token":
        return (
            _oauth_error("BAD_GRANT_TYPE", "grant_type must be one of authorization_code, refresh_token"),
            None,
            None,
        )
    if form.get("client_id") != config.oauth_client_id:
        return _oauth_error("BAD_CLIENT_ID", "missing or invalid client_id"), None, None
    if form.get("client_secret") != config.oauth_client_secret:
        return _oauth_error("BAD_CLIENT_SECRET", "missing or invalid client_secret"), None, None
    refresh = form.get("refresh_token")
    if refresh is None or refresh not in config.refresh_tokens:
        return _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token"), None, None
    token = "sim-oauth-" + secrets.token_hex(16)
    spec = TokenSpec(scopes=config.oauth_scopes, expires_at=time.time() + config.oauth_expires_in, oauth=True)
    body_out = {
        "token_type": "bearer",
        "refresh_token": refresh,
        "access_token": token,
        "expires_in": config.oauth_expires_in,
    }
    return Reply(200, body_out), token, spec
