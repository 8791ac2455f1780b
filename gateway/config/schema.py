"""JSON schema for editors, generated from the same types the loader validates against."""

from __future__ import annotations

import orjson

from gateway.config.model import GatewayConfig


def config_schema_json() -> bytes:
    schema = GatewayConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "AI gateway config (config/gateway.yaml)"
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
