"""What the stateful API families keep: uploaded files, vector stores, conversations, stored
chat completions, batches, uploads and containers. Each dict holds its objects in creation
order, which is the order list endpoints page through."""

from __future__ import annotations

from dataclasses import dataclass, field

from fake_openai.wire import JsonObject


@dataclass
class StoredFile:
    """A file: its ``file`` object and its bytes."""

    obj: JsonObject
    data: bytes


@dataclass
class VectorStoreState:
    """A vector store, its attached files (``vector_store.file`` objects) and file batches."""

    obj: JsonObject
    files: dict[str, JsonObject] = field(default_factory=dict)
    batches: dict[str, JsonObject] = field(default_factory=dict)
    batch_files: dict[str, list[str]] = field(default_factory=dict)
    """The file ids of each file batch."""


@dataclass
class ConversationState:
    """A conversation and its items, in conversation order."""

    obj: JsonObject
    items: dict[str, JsonObject] = field(default_factory=dict)


@dataclass
class StoredChat:
    """A chat completion stored with ``store: true``, and the messages it was asked with."""

    obj: JsonObject
    messages: list[JsonObject]


@dataclass
class UploadState:
    """An upload in progress: its ``upload`` object and its parts' bytes by part id."""

    obj: JsonObject
    file_expiry_s: int | None = None
    """``expires_after.seconds`` for the file the upload makes."""
    parts: dict[str, bytes] = field(default_factory=dict)


@dataclass
class ContainerState:
    """A container and its files (``container.file`` objects with their bytes)."""

    obj: JsonObject
    files: dict[str, StoredFile] = field(default_factory=dict)


class Stores:
    """Every stateful family's objects, by id; ``clear`` forgets them all."""

    def __init__(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self.vector_stores: dict[str, VectorStoreState] = {}
        self.conversations: dict[str, ConversationState] = {}
        self.chats: dict[str, StoredChat] = {}
        self.batches: dict[str, JsonObject] = {}
        self.uploads: dict[str, UploadState] = {}
        self.containers: dict[str, ContainerState] = {}

    def clear(self) -> None:
        for store in (
            self.files,
            self.vector_stores,
            self.conversations,
            self.chats,
            self.batches,
            self.uploads,
            self.containers,
        ):
            store.clear()
