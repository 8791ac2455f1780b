"""The list envelope and cursor pagination the API's list endpoints share.

Objects are kept in creation order, so ``order=asc`` is that order and ``desc`` its reverse;
``after``/``before`` name an object of the listing, and ``has_more`` says whether the page
stopped short of the end. Out-of-range parameters get OpenAI's 400s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fake_openai.wire import ApiError, JsonObject


def read_limit(query: Mapping[str, str], *, default: int, maximum: int) -> int:
    """``limit`` from the query: ``default`` when absent, else an integer in 1..``maximum``."""
    raw = query.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise ApiError(
            400,
            f"Invalid 'limit': expected an integer between 1 and {maximum}.",
            param="limit",
            code="integer_out_of_range" if limit else "invalid_type",
        )
    return limit


def read_order(query: Mapping[str, str], default: str = "desc") -> str:
    """``order`` from the query: ``asc`` or ``desc``."""
    order = query.get("order", default)
    if order not in ("asc", "desc"):
        raise ApiError(
            400,
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    return order


def envelope(data: list[JsonObject], has_more: bool, id_key: str = "id") -> JsonObject:
    """``{"object": "list", "data", "first_id", "last_id", "has_more"}``."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0][id_key] if data else None,
        "last_id": data[-1][id_key] if data else None,
        "has_more": has_more,
    }


def page(
    items: Sequence[JsonObject],
    query: Mapping[str, str],
    *,
    default_limit: int = 20,
    max_limit: int = 100,
    default_order: str = "desc",
    id_key: str = "id",
) -> JsonObject:
    """One page of ``items`` (in creation order) as the query asks, in its list envelope."""
    limit = read_limit(query, default=default_limit, maximum=max_limit)
    ordered = list(items)
    if read_order(query, default_order) == "desc":
        ordered.reverse()
    ids = [item[id_key] for item in ordered]
    for name in ("after", "before"):
        cursor = query.get(name)
        if cursor is None:
            continue
        if cursor not in ids:
            raise ApiError(400, f"Invalid '{name}': no object with id '{cursor}'.", param=name)
        cut = ids.index(cursor)
        if name == "after":
            ordered, ids = ordered[cut + 1 :], ids[cut + 1 :]
        else:
            ordered, ids = ordered[:cut], ids[:cut]
    if query.get("before") is not None and query.get("after") is None:
        # Paging backwards: the page nearest the cursor.
        chunk = ordered[-limit:]
        return envelope(chunk, len(ordered) > limit, id_key)
    return envelope(ordered[:limit], len(ordered) > limit, id_key)
