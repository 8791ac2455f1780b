"""``gateway shadow report``: a route's compared pairs, one line per model pair (pure).

Rates are over the pairs whose answer could show the trait: JSON validity
over the answers that had structured output or a tool call to check.
Ratios are shadow ÷ primary: cost over the summed costs, latency over the
medians (and the 95th percentiles), output over the summed output tokens.
Similarity is over the pairs where both sides answered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gateway.pricing import NANOS_PER_USD
from gateway.shadow.table import ShadowPair

BUCKETS = (0.2, 0.4, 0.6, 0.8, 0.95, 1.0)  # similarity distribution: upper bounds


@dataclass(frozen=True, slots=True)
class PairSummary:
    primary_model: str
    shadow_model: str
    pairs: int
    primary_ok: float  # shares, 0..1
    shadow_ok: float
    primary_json_valid: float | None
    shadow_json_valid: float | None
    primary_refusals: float
    shadow_refusals: float
    primary_cost_usd: float
    shadow_cost_usd: float
    cost_ratio: float | None
    latency_p50_ratio: float | None
    latency_p95_ratio: float | None
    output_ratio: float | None
    similarity_p10: float | None
    similarity_p50: float | None
    similarity_p90: float | None
    similarity_buckets: dict[str, int]  # "<=0.2": pairs, ...


def summarize(pairs: Iterable[ShadowPair]) -> list[PairSummary]:
    groups: dict[tuple[str, str], list[ShadowPair]] = {}
    for pair in pairs:
        groups.setdefault((pair.primary_model, pair.shadow_model), []).append(pair)
    return [_summary(p, s, rows) for (p, s), rows in sorted(groups.items())]


def _summary(primary: str, shadow: str, rows: list[ShadowPair]) -> PairSummary:
    sims = sorted(r.similarity for r in rows if r.similarity is not None)
    p_cost = sum(r.primary_cost_nanos for r in rows)
    s_cost = sum(r.shadow_cost_nanos for r in rows)
    p_lat = [r.primary_latency_ms for r in rows]
    s_lat = [r.shadow_latency_ms for r in rows]
    p_out = sum(r.primary_output_tokens or 0 for r in rows)
    s_out = sum(r.shadow_output_tokens or 0 for r in rows)
    return PairSummary(
        primary,
        shadow,
        len(rows),
        _share(r.primary_ok for r in rows),
        _share(r.shadow_ok for r in rows),
        _valid([r.primary_json_valid for r in rows]),
        _valid([r.shadow_json_valid for r in rows]),
        _share(r.primary_refusal for r in rows),
        _share(r.shadow_refusal for r in rows),
        p_cost / NANOS_PER_USD,
        s_cost / NANOS_PER_USD,
        _ratio(s_cost, p_cost),
        _ratio(_quantile(s_lat, 0.5), _quantile(p_lat, 0.5)),
        _ratio(_quantile(s_lat, 0.95), _quantile(p_lat, 0.95)),
        _ratio(s_out, p_out),
        _quantile(sims, 0.1),
        _quantile(sims, 0.5),
        _quantile(sims, 0.9),
        _buckets(sims),
    )


def render(route: str, summaries: Sequence[PairSummary]) -> str:
    """A fixed-width table, then each pair's similarity distribution."""
    if not summaries:
        return f"route {route}: no compared pairs in this window\n"
    header = ["primary -> shadow", "pairs", "ok", "json valid", "refusals", "cost", "cost x",
              "p50 latency x", "p95 latency x", "output x", "similarity p10/p50/p90"]  # fmt: skip
    lines = [[
        f"{s.primary_model} -> {s.shadow_model}", str(s.pairs),
        _pct_pair(s.primary_ok, s.shadow_ok),
        _pct_pair(s.primary_json_valid, s.shadow_json_valid),
        _pct_pair(s.primary_refusals, s.shadow_refusals),
        f"${s.primary_cost_usd:.4f} / ${s.shadow_cost_usd:.4f}", _x(s.cost_ratio),
        _x(s.latency_p50_ratio), _x(s.latency_p95_ratio), _x(s.output_ratio),
        "/".join(_num(v) for v in (s.similarity_p10, s.similarity_p50, s.similarity_p90)),
    ] for s in summaries]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    out = [f"route {route}: primary / shadow, ratios shadow ÷ primary"]
    for row in [header, ["-" * w for w in widths], *lines]:
        out.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    for s in summaries:
        dist = "  ".join(f"{k}: {n}" for k, n in s.similarity_buckets.items())
        out.append(f"similarity {s.primary_model} -> {s.shadow_model}: {dist}")
    return "\n".join(out) + "\n"


def as_json(route: str, summaries: Sequence[PairSummary]) -> dict[str, Any]:
    return {"route": route, "pairs": [asdict(s) for s in summaries]}


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else 0.0


def _valid(flags: list[bool | None]) -> float | None:
    checked = [f for f in flags if f is not None]
    return sum(checked) / len(checked) if checked else None


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def _quantile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank quantile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _buckets(sims: Sequence[float]) -> dict[str, int]:
    out = {f"<={b}": 0 for b in BUCKETS}
    for value in sims:
        bound = next(b for b in BUCKETS if value <= b)
        out[f"<={bound}"] += 1
    return out


def _pct_pair(a: float | None, b: float | None) -> str:
    return f"{_pct(a)} / {_pct(b)}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"
