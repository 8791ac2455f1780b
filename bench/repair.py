"""What the "fix JSON" remedy costs and saves: ``[repair, escalate]`` against ``[escalate]``.

A gateway (the tests' harness: uvicorn in a thread) in front of the fake
upstream serves N structured-output calls (Responses, a JSON schema through
``text.format``) per cell on two routes with the same ladder,
small model then large (default gpt-5-nano -> gpt-4.1): one repairs first,
one only escalates. Each call's faults are drawn once from a seeded RNG and
scripted identically for both routes:

- the small model's first answer is broken with probability ``fault`` (half
  prose that does not parse, half JSON missing the required field);
- asked to repair (the fake sees the repair instruction), it succeeds with
  probability ``fixed``, else answers broken again;
- the large model's answer is valid with probability ``large_ok`` (and, on the
  repairing route, its own repair succeeds with probability ``fixed``).

Cost is the ledger's (sum of ``cost_nanos`` over every attempt of the cell's
requests, priced by config/pricing.yaml on the fake's token counts, which
include the fake's prompt cache: a repair shares its prefix with the first
try). Success is what the client got: ``output_parsed`` is a valid object.

Usage: ``bench/repair.py [--calls N] [--large MODEL] [--seed S]``
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

REPAIR_ASK = "Reply again with only the corrected JSON"
PROMPT = "Read the ticket and give the customer's city as JSON. " + "Ticket text. " * 120
GOOD = '{"city": "Lisbon"}'
BROKEN = ("The customer is in Lisbon.", '{"town": "Lisbon"}')
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
STRUCTURED: Any = {
    "format": {"type": "json_schema", "name": "place", "schema": SCHEMA, "strict": True}
}
CELLS = [(0.05, 0.8, 1.0), (0.2, 0.8, 1.0), (0.5, 0.8, 1.0), (0.2, 0.5, 1.0), (0.2, 0.8, 0.9)]


class Place(BaseModel):
    city: str


@dataclass
class Tally:
    calls: int = 0
    ok: int = 0
    attempts: int = 0
    large: int = 0
    request_ids: list[str] = field(default_factory=list)


def _valid(text: str, model: type[BaseModel]) -> bool:
    try:
        model.model_validate_json(text)
    except ValidationError:
        return False
    return True


def _rows(database_url: str, ids: set[str], attempts: int) -> list[dict[str, object]]:
    """The cell's ledger rows, once the batched writer has written every attempt's."""
    from harness import ledger_rows
    from poll import latest_sync

    def mine() -> list[dict[str, object]]:
        return [r for r in ledger_rows(database_url) if r["request_id"] in ids]

    return latest_sync(mine, lambda found: len(found) >= attempts, 10.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per cell and route")
    parser.add_argument("--small", default="gpt-5-nano")
    parser.add_argument("--large", default="gpt-4.1")
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()

    import openai
    from harness import GatewayServer, config_dict, merged

    from fake_openai import FakeOpenAIServer, Fault

    ladder = [args.small, args.large]
    bad = ["invalid_json", "schema_mismatch"]
    routes = {
        "repair": {"ladder": ladder, "escalate_on": bad, "on_invalid_json": ["repair", "escalate"]},
        "escalate": {"ladder": ladder, "escalate_on": bad, "on_invalid_json": ["escalate"]},
    }
    models: dict[str, dict[str, Any]] = {m: {} for m in ladder}
    print(f"{args.calls} calls per cell and route; ladder {args.small} -> {args.large}\n")
    print(
        "| fault | repair fixes | large ok | route | success | cost per 1k calls "
        "| attempts per call | large-model calls |"
    )
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeOpenAIServer() as fake,
    ):
        config = merged(config_dict(fake.base_url), {"routes": routes, "models": models})
        with GatewayServer(config, database_url=f"sqlite:///{tmp}/g.db") as gw:
            client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("alpha"), max_retries=0)
            for fault, fixed, large_ok in CELLS:
                rng = random.Random(f"{args.seed}/{fault}/{fixed}/{large_ok}")
                script = [
                    (
                        rng.random() < fault,
                        rng.random() < fixed,
                        rng.random() < large_ok,
                        rng.random() < fixed,
                        i % 2,
                    )
                    for i in range(args.calls)
                ]
                for route in ("escalate", "repair"):
                    tally = Tally()
                    for broken, fixes, large_good, large_fixes, kind in script:
                        fake.clear()
                        first = BROKEN[kind] if broken else GOOD
                        fake.inject(Fault(model=args.small, output_text=first))
                        again = GOOD if fixes else BROKEN[kind]
                        fake.inject(
                            Fault(model=args.small, body_contains=REPAIR_ASK, output_text=again)
                        )
                        big = GOOD if large_good else BROKEN[1 - kind]
                        fake.inject(Fault(model=args.large, output_text=big))
                        again = GOOD if large_fixes else big
                        fake.inject(
                            Fault(model=args.large, body_contains=REPAIR_ASK, output_text=again)
                        )
                        raw = client.responses.with_raw_response.create(
                            model=route, input=PROMPT, text=STRUCTURED
                        )
                        resp = raw.parse()
                        tally.calls += 1
                        tally.ok += _valid(resp.output_text, Place)
                        tally.attempts += int(raw.headers["x-gateway-attempts"])
                        tally.large += resp.model == args.large
                        tally.request_ids.append(raw.headers["x-gateway-request-id"])
                    mine = _rows(gw.database_url, set(tally.request_ids), tally.attempts)
                    assert len(mine) == tally.attempts, "one ledger row per attempt"
                    cost = sum(int(r["cost_nanos"]) for r in mine) / 1e9  # type: ignore[call-overload]
                    print(
                        f"| {fault:.0%} | {fixed:.0%} | {large_ok:.0%} | {route} "
                        f"| {tally.ok / tally.calls:.1%} "
                        f"| ${cost * 1000 / tally.calls:.4f} "
                        f"| {tally.attempts / tally.calls:.2f} | {tally.large} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
