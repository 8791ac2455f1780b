"""Read a YAML config file into a validated :class:`GatewayConfig`.

Problems are reported with file, dotted path and line so a platform team can
fix a config in review; nothing here touches the environment or the network.
"""

from __future__ import annotations

from pathlib import Path

from gateway.config.model import GatewayConfig
from gateway.yamlfile import ConfigError, Problem, load_yaml_file, validate_yaml

__all__ = ["ConfigError", "Problem", "load_config", "parse_config"]


def load_config(path: str | Path) -> GatewayConfig:
    return load_yaml_file(path, GatewayConfig)


def parse_config(text: str, filename: str = "<config>") -> GatewayConfig:
    return validate_yaml(text, filename, GatewayConfig)
