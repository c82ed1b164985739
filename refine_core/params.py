"""Method parameters: one parser for the CLI, the batch and the panel, and one check.

Every method declares its parameters as ``Param`` rows (name, type, range,
default); ``check_params`` validates what a user gave against them before any
work starts, so a wrong name, type or range is one line naming the method,
never an error from deep inside a filter or a network.
"""
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .errors import BadInputError


@dataclass(frozen=True)
class Param:
    """One method parameter: ``kind`` int, float or bool; inclusive ``low``/``high``."""

    name: str
    kind: type
    default: object
    low: float | None = None
    high: float | None = None
    doc: str = ""

    def with_default(self, value) -> "Param":
        return replace(self, default=value)

    def allowed(self) -> str:
        if self.kind is bool:
            return "true or false"
        kind = "an integer" if self.kind is int else "a number"
        return f"{kind} from {_number(self.low)} to {_number(self.high)}"

    def check(self, value, method: str):
        """``value`` converted to ``kind``; BadInputError when it is not allowed."""
        where = f"--param {self.name}={value}"
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            raise BadInputError(where, f"{method}: {self.name} must be true or false")
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or (self.kind is int and not float(value).is_integer()):
            raise BadInputError(where, f"{method}: {self.name} must be {self.allowed()}")
        value = self.kind(value) if math.isfinite(value) else value
        if not math.isfinite(value) or not self.low <= value <= self.high:
            raise BadInputError(where, f"{method}: {self.name} must be {self.allowed()}")
        return value


def _number(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def parse_params(given: None | str | dict | Iterable[str]) -> dict:
    """Method parameters from ``k=v`` strings or a JSON object (text or dict).

    Values are JSON (``4``, ``2.5``, ``true``); anything else stays a string
    and is then refused by ``check_params`` with the allowed range.
    """
    if given is None:
        return {}
    if isinstance(given, dict):
        return dict(given)
    if isinstance(given, str):  # one JSON object, or k=v items apart by spaces or commas (the panel's field)
        given = [given] if given.strip().startswith("{") else re.split(r"[\s,]+", given)
    params = {}
    for item in given:
        item = item.strip()
        if not item:
            continue
        if item.startswith("{"):
            try:
                parsed = json.loads(item)
            except json.JSONDecodeError as exc:
                raise BadInputError(f"parameters {item}", f"not a JSON object ({exc.msg})") from None
            if not isinstance(parsed, dict):
                raise BadInputError(f"parameters {item}", "expected a JSON object of name: value")
            params.update(parsed)
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"--param {item}", "expected key=value (or a JSON object)")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def check_params(method: str, declared: Iterable[Param], given: dict | None) -> dict:
    """Every declared parameter's value: the given one (checked) or its default."""
    declared = {p.name: p for p in declared}
    unknown = sorted(set(given or {}) - set(declared))
    if unknown:
        allowed = ", ".join(f"{p.name} ({p.allowed()})" for p in declared.values()) or "none"
        raise BadInputError(f"--param {unknown[0]}", f"{method} has no parameter '{unknown[0]}'; its parameters: {allowed}")
    return {name: p.check(given[name], method) if name in (given or {}) else p.default for name, p in declared.items()}
