"""The parts of a Realtime session config that move money: its model, the model that
transcribes input audio, and whether voice activity starts responses by itself.

Both dialects are read: GA (``audio.input.transcription``,
``audio.input.turn_detection``) and the old beta (``input_audio_transcription``,
``turn_detection``). The same checks run wherever a config is set: a client's
``session.update``, a client secret's or a WebRTC call's config
(`gateway.api.realtime_http`), and what the upstream reports the session is
(`gateway.realtime.session`), so no path sets a model the tenant may not use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.config.runtime import Model, Policy, RuntimeConfig
from gateway.errors import BadRequest
from gateway.pipeline.prepare import require_price
from gateway.policy import check_requested
from gateway.pricing import ModelPrice
from gateway.routing import deprecation

Priced = tuple[Model, ModelPrice | None]
_ABSENT = object()


def check_session_models(
    session: dict[str, Any], config: RuntimeConfig, policy: Policy, model: Model
) -> bool:
    """Refuse a model change or an unusable transcription model; name both as the upstream
    knows them. True if ``session`` was rewritten."""
    changed = False
    if "model" in session:
        changed = check_same_model(session["model"], config, policy, model)
        if changed:
            session["model"] = model.upstream_model
    for transcription in _transcriptions(session):
        name = transcription.get("model")
        if not isinstance(name, str) or not name:
            raise BadRequest(
                "Name the transcription model (audio.input.transcription.model): the gateway "
                "checks and prices it like any model.",
                param="session.audio.input.transcription.model",
                code="missing_required_parameter",
            )
        transcriber, _ = transcription_model(config, policy, name)
        if name != transcriber.upstream_model:
            transcription["model"] = transcriber.upstream_model
            changed = True
    return changed


def check_same_model(name: Any, config: RuntimeConfig, policy: Policy, model: Model) -> bool:
    """A session keeps the model it was opened with, as the API has it ("once a session has
    been initialized with a particular model, it can't be changed to another model using
    session.update"). True if ``name`` is that model by its gateway name (to be renamed),
    or by the deprecated name it was opened with (rewritten to it)."""
    if name in (model.name, model.upstream_model):
        return bool(name != model.upstream_model)
    if isinstance(name, str):
        if deprecation.rewritten_to(config, name, deprecation.today()) == model.name:
            return True
        check_requested(config, policy, name)  # an unknown or forbidden model says so first
    raise BadRequest(
        f"A session cannot change its model (it was opened with `{model.name}`); "
        "open a new session for another model.",
        param="session.model",
        code="model_change_not_supported",
    )


def transcription_model(config: RuntimeConfig, policy: Policy, name: str) -> Priced:
    """The configured model that may transcribe for this tenant, and its price."""
    check_requested(config, policy, name)
    model = config.models.get(name) or _by_upstream_name(config, name)
    if model is None:
        raise BadRequest(
            f"`{name}` is a route; a transcription model must be a model.",
            param="session.audio.input.transcription.model",
            code=None,
        )
    return model, require_price(config, model)


def _by_upstream_name(config: RuntimeConfig, name: str) -> Model | None:
    return next((m for m in config.models.values() if m.upstream_model == name), None)


def transcription_setting(session: Any) -> Any:
    """The transcription the config sets: a dict, None (off), or ``ABSENT`` (unchanged)."""
    found = _ABSENT
    for value in _settings(session, "transcription", "input_audio_transcription"):
        found = value
    return found


def turn_detection_setting(session: Any) -> Any:
    """The turn detection the config sets: a dict, None (off), or ``ABSENT`` (unchanged)."""
    found = _ABSENT
    for value in _settings(session, "turn_detection", "turn_detection"):
        found = value
    return found


def responds_by_itself(turn_detection: Any) -> bool:
    """Whether voice activity starts responses (``create_response`` defaults to true)."""
    return isinstance(turn_detection, dict) and turn_detection.get("create_response") is not False


def is_absent(value: Any) -> bool:
    return value is _ABSENT


def _transcriptions(session: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for value in _settings(session, "transcription", "input_audio_transcription"):
        if value is not None and not isinstance(value, dict):
            raise BadRequest(
                "The transcription setting must be an object or null.",
                param="session.audio.input.transcription",
                code="invalid_type",
            )
        if value is not None:
            yield value


def _settings(session: Any, ga: str, beta: str) -> Iterator[Any]:
    """The beta field, then the GA one (the GA one wins when both are given)."""
    if not isinstance(session, dict):
        return
    if beta in session:
        yield session[beta]
    audio = session.get("audio")
    audio_in = audio.get("input") if isinstance(audio, dict) else None
    if isinstance(audio_in, dict) and ga in audio_in:
        yield audio_in[ga]
