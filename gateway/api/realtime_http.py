"""``POST /v1/realtime/client_secrets`` and ``POST /v1/realtime/calls`` (WebRTC).

Client secrets: the caller's session config gets the tenant's caps, the
upstream validates it and answers in its own shape, and the gateway swaps the
upstream's ``ek_`` key for one of its own (`gateway.realtime.secrets`).

Calls: the SDP offer goes upstream with the gateway's key and the session
config (caps applied); the answer and ``Location`` come back to the client,
and audio flows between the browser and OpenAI directly. The gateway then
watches the call over the sideband socket (`watch_call`), which meters it
and hangs up when the tenant is out of budget or time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, urlencode

import aiohttp
import orjson

from gateway.api.asgi import Scope, header
from gateway.api.proxy import Exchange, Handler, body_of, caller_of
from gateway.api.realtime import (
    minted_for,
    open_session_slot,
    resolve_model,
    session_ended,
    session_for,
)
from gateway.auth.callers import Caller
from gateway.config.runtime import Model
from gateway.errors import BadRequest, GatewayError, UpstreamError
from gateway.metering.outcome import Outcome
from gateway.pipeline.relay import deliver, read_answer
from gateway.pricing import ModelPrice
from gateway.realtime.caps import apply_cap
from gateway.realtime.pump import from_upstream, nobody
from gateway.realtime.session_config import check_session_models
from gateway.services import Services
from gateway.shapes.endpoint import parse_json_object
from gateway.shapes.realtime import realtime_cap
from gateway.shapes.refs import REALTIME_CALL
from gateway.telemetry.labels import tenant_label
from gateway.upstream.headers import upstream_request_headers

log = logging.getLogger(__name__)
_SECRET_TTL_S = (10, 7200, 600)  # min, max, default: the upstream's own range


def client_secrets() -> Handler:
    async def handle(ex: Exchange) -> None:
        ctx, services = ex.ctx, ex.services
        ctx.endpoint = "realtime.client_secrets"
        caller = await caller_of(ex)
        body = parse_json_object(await body_of(ex))
        session = body.get("session", {})
        if not isinstance(session, dict):
            raise BadRequest("'session' must be an object.", param="session", code=None)
        name = session.get("model")
        ttl = _ttl(body.get("expires_after"))
        model, _, upstream_session = _capped_session(ex, caller, session, name)
        ctx.model = model.name
        upstream_body = {**body, "session": upstream_session}
        client = services.pool.get(model.upstream)
        resp = await client.send(
            "POST",
            "/realtime/client_secrets",
            b"",
            upstream_request_headers(ex.scope["headers"], client.upstream.api_key),
            orjson.dumps(upstream_body),
        )
        outcome = Outcome()
        answer = await read_answer(
            ctx, outcome, resp, api_key=client.upstream.api_key, upstream=model.upstream
        )
        data = outcome.body
        if answer.status >= 400 or data is None:
            await deliver(ctx, answer, ex.send, ex.headers)
            return
        now = time.time()
        upstream_expiry = data.get("expires_at")
        expires_at = now + ttl
        if isinstance(upstream_expiry, int | float):
            expires_at = min(expires_at, float(upstream_expiry))
        fixed = {**upstream_session, "model": model.name}
        secret = await services.client_secrets.mint(
            caller.tenant,
            caller.principal.subject,
            expires_at=expires_at,
            session=fixed,
            single_use=caller.policy.realtime.single_use_secrets,
            now=now,
        )
        data["value"] = secret.value  # the upstream's key never leaves the gateway
        data["expires_at"] = int(expires_at)
        if isinstance(data.get("session"), dict):
            data["session"]["model"] = model.name
        answer.body = orjson.dumps(data)
        await deliver(ctx, answer, ex.send, ex.headers)

    return handle


def calls() -> Handler:
    async def handle(ex: Exchange) -> None:
        ctx, services = ex.ctx, ex.services
        ctx.endpoint = "realtime.calls"
        auth = header(ex.scope, b"authorization")
        caller, fixed = await services.auth.session_caller(auth.decode("latin-1") if auth else None)
        ctx.tenant, ctx.subject = caller.tenant, caller.principal.subject
        ctx.service = caller.service
        raw = await body_of(ex)
        content_type = (header(ex.scope, b"content-type") or b"").decode("latin-1")
        sdp, session = _offer(raw, content_type)
        if not minted_for(services, fixed.get("model"), session.get("model", fixed.get("model"))):
            raise BadRequest(
                "This client secret was minted for another model.", param="session.model"
            )
        merged = {**session, **fixed}  # what the secret fixed wins over the browser's asks
        name = merged.get("model") or _query_model(ex.scope)
        model, price, upstream_session = _capped_session(ex, caller, merged, name)
        ctx.model = model.name
        await open_session_slot(services, caller)
        released = False
        try:
            client = services.pool.get(model.upstream)
            boundary = f"gw{os.urandom(12).hex()}"
            headers = upstream_request_headers(
                [(k, v) for k, v in ex.scope["headers"] if k != b"content-type"],
                client.upstream.api_key,
            )
            headers["content-type"] = f"multipart/form-data; boundary={boundary}"
            resp = await client.send(
                "POST", "/realtime/calls", b"", headers, _multipart(boundary, sdp, upstream_session)
            )
            location = resp.headers.get("location", "")
            outcome = Outcome()
            answer = await read_answer(
                ctx, outcome, resp, api_key=client.upstream.api_key, upstream=model.upstream
            )
            call_id = location.rstrip("/").rsplit("/", 1)[-1]
            if answer.status >= 400:
                await deliver(ctx, answer, ex.send, ex.headers)
                return
            if not call_id.startswith("rtc_"):
                raise UpstreamError("The upstream created a call without an id.", code=None)
            # Fail closed: a call the gateway cannot watch is not handed to the browser.
            try:
                sideband = await client.ws_connect("/realtime", urlencode({"call_id": call_id}))
            except GatewayError:
                await hang_up(services, model, call_id)
                raise
            # Recorded before the browser has the id: hang-ups may reach another replica.
            await services.ownership.record_now(call_id, caller.tenant, REALTIME_CALL.name)
            answer.content_type = b"application/sdp"
            answer.headers.append((b"location", location.encode("latin-1")))
            ctx.response_id = call_id
            task = asyncio.create_task(
                watch_call(
                    services,
                    caller,
                    model,
                    price,
                    call_id,
                    sideband,
                    fixed_session=upstream_session,
                )
            )
            services.track(task)
            released = True  # the watcher owns the session slot now
            await deliver(ctx, answer, ex.send, ex.headers)
        finally:
            if not released:
                services.quota.close_session(caller.tenant)

    return handle


def _capped_session(
    ex: Exchange, caller: Caller, session: dict[str, Any], name: Any
) -> tuple[Model, ModelPrice | None, dict[str, Any]]:
    """The model the session may use, its price, and its config with the tenant's caps; a
    deprecated model's notice goes on the answer's headers."""
    services = ex.services
    if session.get("type", "realtime") != "realtime":
        raise BadRequest(
            "Only realtime sessions are supported through the gateway.",
            param="session.type",
            code="unsupported_session_type",
        )
    if not isinstance(name, str) or not name:
        raise BadRequest("Missing required parameter: 'session.model'.", param="session.model")
    model, price, notice = resolve_model(services, caller, name)
    if notice is not None:
        ex.headers.extend(notice.headers())
    capped, cap = dict(session), realtime_cap(caller.policy, model)
    apply_cap(capped, cap, caller.policy)
    capped.setdefault("max_output_tokens", cap)
    capped["type"], capped["model"] = "realtime", model.upstream_model
    check_session_models(capped, services.config, caller.policy, model)  # transcription
    return model, price, capped


def _ttl(expires_after: Any) -> float:
    low, high, default = _SECRET_TTL_S
    if expires_after is None:
        return default
    seconds = expires_after.get("seconds", default) if isinstance(expires_after, dict) else None
    if not isinstance(seconds, int) or not low <= seconds <= high:
        raise BadRequest(
            f"expires_after.seconds must be an integer from {low} to {high}.",
            param="expires_after.seconds",
            code="invalid_value",
        )
    return float(seconds)


def _offer(raw: bytes, content_type: str) -> tuple[bytes, dict[str, Any]]:
    """The SDP offer and the session config, from ``application/sdp`` or multipart."""
    if content_type.startswith("application/sdp"):
        return raw, {}
    if not content_type.startswith("multipart/form-data"):
        raise BadRequest(
            "Send the SDP offer as application/sdp or multipart/form-data (sdp, session).",
            code="unsupported_content_type",
        )
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    if "sdp" not in parts:
        raise BadRequest("The multipart body has no 'sdp' part.", param="sdp", code=None)
    session: dict[str, Any] = {}
    if "session" in parts:
        try:
            session = parse_json_object(parts["session"])
        except GatewayError as err:
            raise BadRequest("The 'session' part is not a JSON object.", param="session") from err
    return parts["sdp"], session


def _multipart(boundary: str, sdp: bytes, session: dict[str, Any]) -> bytes:
    b = boundary.encode()
    return b"".join(
        [
            b"--" + b + b'\r\nContent-Disposition: form-data; name="sdp"\r\n',
            b"Content-Type: application/sdp\r\n\r\n" + sdp + b"\r\n",
            b"--" + b + b'\r\nContent-Disposition: form-data; name="session"\r\n',
            b"Content-Type: application/json\r\n\r\n" + orjson.dumps(session) + b"\r\n",
            b"--" + b + b"--\r\n",
        ]
    )


def _query_model(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("model")
    return values[0] if values else None


async def watch_call(
    services: Services,
    caller: Caller,
    model: Model,
    price: ModelPrice | None,
    call_id: str,
    upstream: aiohttp.ClientWebSocketResponse,
    *,
    fixed_session: dict[str, Any],
) -> None:
    """Meter a WebRTC call from its (open) sideband socket; hang up when it cannot be.

    Fails closed: out of budget, out of time, the cap lost, the sideband lost or
    broken all end the call, since the gateway would stop seeing what it costs.
    Only the call's own end and a gateway shutdown leave it be. The call holds a
    session slot (taken before it was created); this gives it back.
    """
    tenant = caller.tenant
    label = tenant_label(services.config, tenant)
    session = session_for(
        services, caller, model, price, fixed_session=fixed_session, observer=True
    )
    services.metrics.realtime_sessions(label).inc()
    started = time.perf_counter()
    reason = "error"
    try:
        for event in session.opening_events():
            await upstream.send_str(event)
        async with asyncio.timeout(caller.policy.realtime.max_session_s):
            reason = await from_upstream(session, upstream, nobody)  # observe, relay nothing
        if reason == "upstream_closed" and upstream.close_code != 1000:
            reason = "sideband_lost"  # the call may go on: unmetered, so it ends
    except TimeoutError:
        reason = "max_duration"
    except asyncio.CancelledError:
        reason = "gateway_shutdown"
        raise
    except Exception:
        log.exception("call %s: watching it failed", call_id)
    finally:
        with contextlib.suppress(Exception):
            await upstream.close()
        session.close()
        session_ended(services, tenant, label, started, reason)
        if reason not in ("upstream_closed", "gateway_shutdown"):
            await hang_up(services, model, call_id)


async def hang_up(services: Services, model: Model, call_id: str) -> None:
    client = services.pool.get(model.upstream)
    headers = {"content-type": "application/json"}
    if client.upstream.api_key:
        headers["authorization"] = f"Bearer {client.upstream.api_key}"
    try:
        resp = await client.send("POST", f"/realtime/calls/{call_id}/hangup", b"", headers, b"{}")
        await resp.read()
        if resp.status >= 400:
            log.error("call %s: hangup refused (HTTP %d)", call_id, resp.status)
    except GatewayError as err:
        log.error("call %s: hangup failed (%s)", call_id, err.code)
