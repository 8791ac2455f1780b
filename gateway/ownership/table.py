"""Which tenant created each upstream object, one row per object id whatever its kind."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import DateTime, Index, text
from sqlmodel import Field, SQLModel

# What an id names. Upstream ids are unique across kinds (each has its own prefix), so
# the kind is not part of the key: it is kept for listing a tenant's objects of one kind.
# "item" covers the output items of responses and the items of conversations (msg_, rs_,
# fc_, ...): upstream they are the same objects under the same ids.
ObjectKind = Literal[
    "response",
    "item",
    "file",
    "upload",
    "vector_store",
    "vector_store_file_batch",
    "conversation",
    "batch",
    "chat_completion",
    "container",
    "container_file",
    "realtime_call",
]
KINDS: tuple[ObjectKind, ...] = get_args(ObjectKind)

ID_MAX = 128  # longer ids or tenants would make PostgreSQL reject every batch they are in

# Only vector stores: the storage meter lists them all daily (`gateway.storage`), and a
# partial index costs the far more numerous responses and items nothing on insert.
VECTOR_STORES_ONLY = text("kind = 'vector_store'")


class ObjectOwner(SQLModel, table=True):
    __tablename__ = "object_owner"
    # Serves "this tenant's files, oldest first" without a sort; lookups by id use the key.
    __table_args__ = (
        Index("ix_object_owner_tenant_kind_created_at", "tenant", "kind", "created_at"),
        Index(
            "ix_object_owner_vector_store",
            "object_id",
            postgresql_where=VECTOR_STORES_ONLY,
            sqlite_where=VECTOR_STORES_ONLY,
        ),
    )

    object_id: str = Field(primary_key=True, max_length=ID_MAX)
    kind: str = Field(max_length=32)
    tenant: str = Field(max_length=ID_MAX)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))  # naive on SQLite = UTC
