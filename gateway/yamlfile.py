"""YAML files validated into pydantic models, with every problem reported by file, path and line."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    line: int | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.line and self.column:
            where += f":{self.column}"
        return f"{where}: {self.path or '<root>'}: {self.message}"


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_yaml_file(path: str | Path, model: type[M]) -> M:
    """Read and validate a YAML file; an unreadable file is a ConfigError too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), "", None, f"cannot read: {exc}")]) from exc
    return validate_yaml(text, str(path), model)


def validate_yaml(text: str, filename: str, model: type[M]) -> M:
    """Parse YAML and validate it into ``model``, reporting every problem with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(filename, exc)]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(filename, "", 1, "the top level must be a mapping")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key" + _did_you_mean(loc[-1], model)
            elif ": " in message and " " not in message.split(": ", 1)[0]:
                # Cross-reference checks name their own path: "models.x.upstream: ...".
                where, message = message.split(": ", 1)
                loc = [*loc, *where.split(".")]
            problems.append(Problem(filename, ".".join(loc), _line_of(node, loc), message))
        raise ConfigError(problems) from exc


def _line_of(node: Any, loc: list[str]) -> int | None:
    """Line of the deepest YAML node along ``loc`` (1-based), for error messages."""
    if node is None:
        return None
    line: int = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    # An unknown key is best pointed at by the key itself.
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _yaml_problem(filename: str, exc: yaml.YAMLError) -> Problem:
    """``file:line:col: invalid YAML: what`` — the parser's words, not its internals."""
    mark = getattr(exc, "problem_mark", None)
    what = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    message = ": ".join(w for w in what if w) or str(exc).splitlines()[0]
    if mark is None:
        return Problem(filename, "", None, f"invalid YAML: {message}")
    return Problem(filename, "", mark.line + 1, f"invalid YAML: {message}", mark.column + 1)


def _did_you_mean(key: str, model: type[BaseModel]) -> str:
    close = difflib.get_close_matches(key, sorted(_field_names(model, set())), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    """Every key the config's models know, nested ones included."""
    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for inner in _models_in(field.annotation):
            names |= _field_names(inner, seen)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]
