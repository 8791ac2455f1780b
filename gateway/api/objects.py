"""One handler for every operation on stored upstream objects (see `gateway.shapes.objects`).

Before anything is sent: the tenant may use the family, every id the path
and body name is its own (else the answer a missing id gets), and an upload
fits its files policy. After: an object the answer created is recorded to
the tenant before the client hears of it (written through, so every replica
knows it at once), a deleted object is forgotten, and a list is cut down to
the tenant's own objects. These calls carry no model and no price: they are
not admitted against budgets, and the ledger holds no row for them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from gateway.api.listing import UpstreamPage, list_owned
from gateway.api.proxy import Exchange, Handler, body_of, caller_of, content_type_of, upload_of
from gateway.auth.callers import Caller
from gateway.config.tenant import FilesPolicy
from gateway.errors import BadRequest, PermissionDenied
from gateway.metering.outcome import Outcome
from gateway.ownership import OwnershipStore
from gateway.pipeline.prepare import check_owned
from gateway.pipeline.relay import (
    Answer,
    deliver,
    is_bytes_answer,
    read_answer,
    relay,
    relay_bytes,
)
from gateway.policy import check_family
from gateway.shapes.endpoint import parse_json_object
from gateway.shapes.form import Form, boundary_of, parse_form
from gateway.shapes.objects import ObjectOp, check_purpose, check_size
from gateway.shapes.refs import FILE, ITEM, UPLOAD, Ref, output_item_ids
from gateway.shapes.responses import RESPONSES
from gateway.upstream import UpstreamClient, upstream_request_headers


def object_op(op: ObjectOp) -> Handler:
    async def handle(ex: Exchange) -> None:
        ctx, services = ex.ctx, ex.services
        ctx.endpoint = op.name
        caller = await caller_of(ex)
        check_family(caller.policy, op.family)
        params: dict[str, str] = ex.scope.get("path_params", {})
        refs = [Ref(kind, params[name]) for name, kind in op.owns.items()]
        body = await _body(ex, op, caller, refs) if ex.scope["method"] == "POST" else None
        await check_owned(services.ownership, caller.tenant, refs)
        if op.creates in (FILE, UPLOAD):
            await _check_file_count(services.ownership, caller)
        client = services.pool.get(next(iter(services.config.upstreams)))
        path = op.upstream_template.format(**params)
        if op.lists is not None:
            await _list(ex, client, path, caller, op.ends)
            return
        await _forward(ex, op, client, path, body, caller, params)

    return handle


async def _body(ex: Exchange, op: ObjectOp, caller: Caller, refs: list[Ref]) -> bytes:
    """The request body; the ids a JSON body names join ``refs``; an upload is checked."""
    content_type = content_type_of(ex)
    if op.upload is not None and boundary_of(content_type) is not None:
        raw = await upload_of(ex, caller)
        _check_upload(parse_form(raw, content_type), op, caller.policy.files)
        return raw
    if op.upload is not None and not op.or_json:
        raise BadRequest(
            "This endpoint takes a multipart/form-data body.", code="invalid_content_type"
        )
    raw = await body_of(ex)
    if raw:
        body = parse_json_object(raw)
        refs.extend(op.refs(body))
        if op.check is not None:
            op.check(body, caller.policy.files)
    return raw


def _check_upload(form: Form, op: ObjectOp, files: FilesPolicy) -> None:
    """An uploaded file's size (and a new file's purpose), held to the files policy."""
    name = op.upload or "file"
    if op.creates is FILE:
        check_purpose(form.fields.get("purpose"), files)
    sizes = form.files.get(name)
    if not sizes:
        raise BadRequest(f"You must provide a {name} parameter.", param=name)
    check_size(max(sizes), files, name)


async def _check_file_count(store: OwnershipStore, caller: Caller) -> None:
    """A tenant at its `files.max_files` must delete a file before it adds one."""
    limit = caller.policy.files.max_files
    if limit is None:
        return
    if len(await store.owned_ids(caller.tenant, FILE.name, limit=limit)) >= limit:
        raise PermissionDenied(
            f"Your tenant already keeps {limit} files upstream, its limit; delete one first.",
            code="file_limit_reached",
        )


async def _forward(
    ex: Exchange,
    op: ObjectOp,
    client: UpstreamClient,
    path: str,
    body: bytes | None,
    caller: Caller,
    params: dict[str, str],
) -> None:
    ctx, services, upstream = ex.ctx, ex.services, client.upstream
    headers = upstream_request_headers(ex.scope["headers"], upstream.api_key)
    resp = await client.send(ex.scope["method"], path, ex.scope["query_string"], headers, body)
    ctx.upstream_request_id = resp.headers.get("x-request-id")
    outcome = Outcome()
    if op.streams and resp.status < 400 and resp.content_type == "text/event-stream":
        await relay(
            ctx, outcome, resp, ex.send, ex.receive, endpoint=RESPONSES,
            api_key=upstream.api_key, upstream=upstream.name, headers=ex.headers,
        )  # fmt: skip
        ended = outcome.facts.response if outcome.facts is not None else None
        if op.ends is not None and ended is not None:  # a replay to its end
            await _ended(ex, op.ends, caller.tenant, [ended])
        return
    if op.path.endswith("/content") and is_bytes_answer(resp):
        await relay_bytes(ctx, outcome, resp, ex.send, ex.receive, ex.headers)
        return
    answer = await read_answer(ctx, outcome, resp, api_key=upstream.api_key, upstream=upstream.name)
    if answer.status < 300:
        # Before the client hears of it: its next call may reach another replica.
        await _record(services.ownership, op, caller.tenant, outcome.body)
        if op.deletes is not None:
            await services.ownership.forget_now(params[op.deletes])
        if op.ends is not None and outcome.body is not None:
            await _ended(ex, op.ends, caller.tenant, [outcome.body])
    await deliver(ctx, answer, ex.send, ex.headers)


async def _ended(ex: Exchange, kind: str, tenant: str, objects: list[dict[str, Any]]) -> None:
    """Held calls these objects show ended are billed; the files they made are the tenant's."""
    made = [
        obj[name] for obj in objects for name in _RESULT_FILES if isinstance(obj.get(name), str)
    ]
    ex.services.ownership.record_all(made, tenant, FILE.name)
    await ex.services.deferred.observe(kind, objects)


_RESULT_FILES = ("output_file_id", "error_file_id")


async def _record(
    store: OwnershipStore, op: ObjectOp, tenant: str, answer: dict[str, Any] | None
) -> None:
    if answer is None:
        return
    if op.creates is not None and isinstance(answer.get("id"), str):
        await store.record_now(answer["id"], tenant, op.creates.name)
    made = answer.get("file")
    if op.creates_file and isinstance(made, dict) and isinstance(made.get("id"), str):
        await store.record_now(made["id"], tenant, FILE.name)
    if op.shows_items:
        store.record_all(output_item_ids(answer), tenant, ITEM.name)


async def _list(
    ex: Exchange, client: UpstreamClient, path: str, caller: Caller, ends: str | None
) -> None:
    """A list of the caller's objects only, paginated on the upstream's cursor."""
    upstream = client.upstream
    headers = upstream_request_headers(ex.scope["headers"], upstream.api_key)
    query = dict(parse_qsl(ex.scope["query_string"].decode("latin-1")))
    last: Answer | None = None

    async def fetch(q: dict[str, str]) -> UpstreamPage:
        nonlocal last
        resp = await client.send("GET", path, urlencode(q).encode(), headers, None)
        outcome = Outcome()
        last = await read_answer(
            ex.ctx, outcome, resp, api_key=upstream.api_key, upstream=upstream.name
        )
        return UpstreamPage(last.status, outcome.body if last.status == 200 else None)

    page = await list_owned(fetch, ex.services.ownership.owners_of, caller.tenant, query)
    assert last is not None  # list_owned fetches at least one page
    if page.body is not None:
        if ends is not None:
            await _ended(ex, ends, caller.tenant, page.body["data"])
        last.body = orjson.dumps(page.body)
    await deliver(ex.ctx, last, ex.send, ex.headers)
