"""Typed config: the file's shape, loading with precise errors, and the compiled runtime form."""

from gateway.config.load import ConfigError, Problem, load_config, parse_config
from gateway.config.model import GatewayConfig
from gateway.config.runtime import (
    Model,
    Policy,
    RuntimeConfig,
    Upstream,
    compile_config,
    load_files,
    load_runtime,
)

__all__ = [
    "ConfigError",
    "GatewayConfig",
    "Model",
    "Policy",
    "Problem",
    "RuntimeConfig",
    "Upstream",
    "compile_config",
    "load_config",
    "load_files",
    "load_runtime",
    "parse_config",
]
