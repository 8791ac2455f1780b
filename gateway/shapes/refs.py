"""Stored objects by kind, and the ids a request names: each must be the caller's.

Every tenant shares one upstream key, so upstream anyone who knows an id can
use it. The gateway records which tenant created each object and checks every
id a request names — in its path or anywhere in its body — before anything is
sent. An id that is not the caller's gets exactly the answer an id that never
existed gets (:meth:`Kind.not_found`), so ids cannot be probed across tenants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.errors import BadRequest, GatewayError, NotFound

if TYPE_CHECKING:
    from gateway.ownership.table import ObjectKind


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of stored upstream object, and how OpenAI says one does not exist."""

    name: ObjectKind  # as recorded in the ownership store
    message: str  # "{id}" is replaced by the id
    param: str | None = None

    def not_found(self, object_id: str) -> GatewayError:
        return NotFound(self.message.format(id=object_id), param=self.param, code=None)


RESPONSE = Kind("response", "No response found with id '{id}'.", "response_id")
ITEM = Kind("item", "Item with id '{id}' not found.")
FILE = Kind("file", "No such File object: {id}", "id")
UPLOAD = Kind("upload", "No such Upload object: {id}", "upload_id")
VECTOR_STORE = Kind("vector_store", "No vector store found with id '{id}'.", "vector_store_id")
FILE_BATCH = Kind("vector_store_file_batch", "No file batch found with id '{id}'.", "batch_id")
CONVERSATION = Kind("conversation", "Conversation with id '{id}' not found.", "conversation_id")
CHAT_COMPLETION = Kind("chat_completion", "Chat completion with id '{id}' not found.")
BATCH = Kind("batch", "No batch found with id '{id}'.", "batch_id")
CONTAINER = Kind("container", "Container with id '{id}' not found.", "container_id")
CONTAINER_FILE = Kind("container_file", "Container file with id '{id}' not found.", "file_id")
REALTIME_CALL = Kind("realtime_call", "Call with id '{id}' not found.", "call_id")


@dataclass(frozen=True, slots=True)
class Ref:
    """An id a request names, of a kind; ``refusal`` replaces the kind's 404 where OpenAI
    answers a missing object differently (``previous_response_id`` is a 400)."""

    kind: Kind
    object_id: str
    refusal: GatewayError | None = None

    def refused(self) -> GatewayError:
        return self.refusal if self.refusal is not None else self.kind.not_found(self.object_id)


FindRefs = Callable[[dict[str, Any]], Iterable[Ref]]


def no_refs(_: dict[str, Any]) -> Iterator[Ref]:
    return iter(())


def previous_response(body: dict[str, Any]) -> Iterator[Ref]:
    prev = body.get("previous_response_id")
    if prev is None:
        return
    if not isinstance(prev, str):
        raise BadRequest("'previous_response_id' must be a string.", param="previous_response_id")
    yield Ref(
        RESPONSE,
        prev,
        BadRequest(
            f"Previous response with id '{prev}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        ),
    )


_NAMING = frozenset(("previous_response_id", "conversation", "tools"))


def responses_refs(body: dict[str, Any]) -> tuple[Ref, ...]:
    """A Responses request: its previous response, conversation, items, files and tools."""
    if body.keys().isdisjoint(_NAMING) and not isinstance(body.get("input"), list):
        return ()  # most requests: a string input and no stored context
    return tuple(_responses_refs(body))


def _responses_refs(body: dict[str, Any]) -> Iterator[Ref]:
    yield from previous_response(body)
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    if isinstance(conversation, str):
        yield Ref(CONVERSATION, conversation)
    yield from input_refs(body.get("input"))
    yield from tool_refs(body.get("tools"))


# Input items whose content is in the body even when they carry a stored item's id; any
# other item with an id (a hosted tool's call, whose results are not in it; a reasoning
# item without its encrypted content; an item reference) makes the API read stored content.
_INLINE_ITEMS = frozenset(
    {
        "message",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "computer_call",
        "computer_call_output",
        "mcp_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "compaction",
    }
)


def stored_item(item: Mapping[str, Any]) -> bool:
    """An input item the API reads from storage by its id (so it must be the caller's,
    and it is bounded at the context window)."""
    if "id" not in item:
        return False
    kind = item.get("type")
    if kind is None:  # a message written short, or an item reference without its type
        return "role" not in item
    if kind == "reasoning":
        return not item.get("encrypted_content")
    return kind not in _INLINE_ITEMS


def input_refs(items: Any) -> Iterator[Ref]:
    """Items and content parts naming stored objects (an ``item_reference``, typed or not; a
    hosted tool's call or a reasoning item the API reads by id; a ``file_id``)."""
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("id"), str) and stored_item(item):
            yield Ref(ITEM, item["id"])
        content = item.get("content")
        if isinstance(content, list):
            yield from _file_parts(content)


def _file_parts(parts: list[Any]) -> Iterator[Ref]:
    for part in parts:
        if not isinstance(part, dict):
            continue
        file_id = part.get("file_id")
        if file_id is None and isinstance(part.get("file"), dict):
            file_id = part["file"].get("file_id")  # Chat: {"type": "file", "file": {...}}
        if isinstance(file_id, str):
            yield Ref(FILE, file_id)


def tool_refs(tools: Any) -> Iterator[Ref]:
    """Hosted tools that name stored objects: vector stores, containers and their files."""
    if not isinstance(tools, list):
        return
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        for store in _strings(tool.get("vector_store_ids")):
            yield Ref(VECTOR_STORE, store)
        container = tool.get("container")
        if isinstance(container, str):
            yield Ref(CONTAINER, container)
        elif isinstance(container, dict):
            yield from (Ref(FILE, f) for f in _strings(container.get("file_ids")))


def output_item_ids(answer: Mapping[str, Any] | None) -> list[str]:
    """The ids of the items a response (or a list of items) shows its tenant: theirs from now on."""
    if answer is None:
        return []
    items = answer.get("output")
    if not isinstance(items, list):
        items = answer.get("data")
        if not isinstance(items, list):
            return []
    return [i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]


def chat_refs(body: dict[str, Any]) -> Iterator[Ref]:
    """A Chat request: files named in message content parts."""
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and isinstance(message.get("content"), list):
                yield from _file_parts(message["content"])


def field_refs(kind: Kind, *fields: str) -> FindRefs:
    """Top-level body fields holding one id or a list of ids of one kind."""

    def find(body: dict[str, Any]) -> Iterator[Ref]:
        for name in fields:
            value = body.get(name)
            for object_id in [value] if isinstance(value, str) else _strings(value):
                yield Ref(kind, object_id)

    return find


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
