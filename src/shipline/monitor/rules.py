"""Alert rules: seed 000's YAML, with conditions read by a small grammar (never eval).

A rules file is a top-level ``Alerts:`` mapping of rule name to ``condition``,
``severity`` and ``action``::

    Alerts:
      ProcessingLag:
        condition: "processing_lag > 30 minutes"
        severity: "WARNING"
        action: "Scale up processing"

A condition is ``metric comparator [$]number [unit]``: the metric is one of
``METRICS``, the comparator one of ``> >= < <= == !=``, and the unit must suit the
metric: seconds, minutes, hours or days for a duration, ``%`` for a ratio, a
leading ``$`` for money, none for a count or a rate.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import cast

import yaml

from shipline.errors import ConfigError
from shipline.monitor.metrics import METRICS, with_unit

SEVERITIES = ("INFO", "WARNING", "CRITICAL")

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

DURATION_UNITS = {
    "second": 1.0,
    "seconds": 1.0,
    "minute": 60.0,
    "minutes": 60.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "day": 86400.0,
    "days": 86400.0,
}

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<op>>=|<=|==|!=|>|<)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<dollar>\$)|(?P<percent>%))"
)


@dataclass(frozen=True)
class Condition:
    """A parsed condition: ``metric op threshold``, the threshold in the metric's base unit."""

    metric: str
    comparator: str
    threshold: float
    text: str

    def holds(self, metrics: dict[str, float]) -> bool:
        """Whether the condition is true of these metric values."""
        return COMPARATORS[self.comparator](metrics[self.metric], self.threshold)

    def reading(self, value: float) -> str:
        """The condition read at ``value``, the value in the metric's unit as the
        threshold is: ``error_rate 33.33% > 5%``, or ``error_rate 0.10%, not > 5%``."""
        shown = with_unit(value, METRICS[self.metric].kind)
        bound = self.text.strip()[len(self.metric) :].strip()
        holds = COMPARATORS[self.comparator](value, self.threshold)
        return f"{self.metric} {shown} {bound}" if holds else f"{self.metric} {shown}, not {bound}"


@dataclass(frozen=True)
class Rule:
    """One alert rule from a rules file."""

    name: str
    condition: Condition
    severity: str
    action: str
    line: int


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split a condition into (kind, text) tokens; ValueError at the first stray character."""
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(
                f"unexpected {text[position:].strip()[:10]!r} at column {position + 1}"
            )
        # Every alternative of _TOKEN is a named group, so a match always names one.
        kind = cast(str, match.lastgroup)
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def parse_condition(text: str) -> Condition:
    """Parse ``metric comparator [$]number [unit]``; ValueError says what is wrong."""
    tokens = tokenize(text)
    kinds = [kind for kind, _ in tokens]
    if len(tokens) < 3 or kinds[0] != "word" or kinds[1] != "op":
        raise ValueError("expected 'metric comparator value', e.g. 'processing_lag > 30 minutes'")
    metric, comparator = tokens[0][1], tokens[1][1]
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(sorted(METRICS))}")
    rest = tokens[2:]
    dollar = bool(rest) and rest[0][0] == "dollar"
    if dollar:
        rest = rest[1:]
    if not rest or rest[0][0] != "number":
        raise ValueError(f"expected a number after {comparator!r}")
    number = float(rest[0][1])
    unit = rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        raise ValueError(f"unexpected {rest[2][1]!r} after the value")
    return Condition(metric, comparator, _in_base_unit(metric, number, dollar, unit), text)


def _in_base_unit(metric: str, number: float, dollar: bool, unit: tuple[str, str] | None) -> float:
    kind = METRICS[metric].kind
    written = "$" if dollar else (unit[1] if unit else "no unit")
    if dollar and unit is not None:
        raise ValueError(f"unexpected {unit[1]!r} after a dollar amount")
    if kind == "duration":
        if unit is None or unit[0] != "word" or unit[1].lower() not in DURATION_UNITS:
            raise ValueError(
                f"{metric} is a duration: give a unit among seconds, minutes, hours, days"
                f" (got {written})"
            )
        return number * DURATION_UNITS[unit[1].lower()]
    if kind == "ratio":
        if unit is None or unit[0] != "percent":
            raise ValueError(f"{metric} is a ratio: give a percentage such as 5% (got {written})")
        return number / 100
    if kind == "money":
        if not dollar:
            raise ValueError(f"{metric} is money: write the amount as $150 (got {written})")
        return number
    if dollar or unit is not None:
        raise ValueError(f"{metric} is a {kind}: give a plain number (got {written})")
    return number


def reading(condition: str, value: float) -> str:
    """``condition`` (a rule's text) read at ``value``; see ``Condition.reading``.

    A condition that no longer parses (a state saved under an older rules file)
    is shown as written, with the bare value.
    """
    try:
        return parse_condition(condition).reading(value)
    except ValueError:
        return f"{condition.strip()} (now {value:,.4g})"


def load_rules(path: Path | None = None) -> list[Rule]:
    """Read and check a rules file (the packaged defaults without a path).

    Every problem is a ConfigError naming the file, the rule, the line and the reason.
    """
    if path is None:
        source = "the default rules"
        text = resources.files("shipline.monitor").joinpath("default_alerts.yaml").read_text()
    else:
        source = str(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise ConfigError(f"alert rules {source}: cannot read: {error}") from error
    return parse_rules(text, source)


def resolve_rules_path(configured: str, explicit: Path | None = None) -> Path | None:
    """The rules file to use: ``explicit``, else ``configured`` if it exists, else None."""
    if explicit is not None:
        return explicit
    candidate = Path(configured)
    return candidate if candidate.is_file() else None


def parse_rules(text: str, source: str = "<rules>") -> list[Rule]:
    """Parse a rules document; ConfigError with the rule, line and reason on any problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"alert rules {source}{where}: not valid YAML: {problem}") from error

    def fail(line: int, reason: str, rule: str | None = None) -> ConfigError:
        named = f" rule {rule!r}" if rule else ""
        return ConfigError(f"alert rules {source}{named} line {line}: {reason}")

    if not isinstance(root, yaml.MappingNode):
        raise fail(_line(root) if root is not None else 1, "expected a top-level 'Alerts:' mapping")
    alerts = [value for key, value in root.value if _scalar(key) == "Alerts"]
    if not alerts:
        raise fail(_line(root), "expected a top-level 'Alerts:' mapping")
    if not isinstance(alerts[0], yaml.MappingNode):
        raise fail(_line(alerts[0]), "'Alerts' must map rule names to rules")
    rules: list[Rule] = []
    for key, body in alerts[0].value:
        name = _scalar(key)
        if not name:
            raise fail(_line(key), "a rule name must be a plain string")
        if any(rule.name == name for rule in rules):
            raise fail(_line(key), "defined twice", name)
        rules.append(_rule(name, body, key, fail))
    return rules


def _rule(
    name: str,
    body: yaml.Node,
    key: yaml.Node,
    fail: Callable[[int, str, str | None], ConfigError],
) -> Rule:
    if not isinstance(body, yaml.MappingNode):
        raise fail(_line(key), "expected condition, severity and action", name)
    fields = {_scalar(k): (v, _line(k)) for k, v in body.value}
    unknown = sorted(str(f) for f in fields if f not in ("condition", "severity", "action"))
    if unknown:
        raise fail(fields[unknown[0]][1], f"unknown field {unknown[0]!r}", name)
    values: dict[str, tuple[str, int]] = {}
    for field in ("condition", "severity", "action"):
        if field not in fields:
            raise fail(_line(key), f"missing {field!r}", name)
        node, line = fields[field]
        value = _scalar(node)
        if not value:
            raise fail(line, f"{field!r} must be a non-empty string", name)
        values[field] = (value, line)
    condition_text, condition_line = values["condition"]
    try:
        condition = parse_condition(condition_text)
    except ValueError as error:
        raise fail(condition_line, f"condition {condition_text!r}: {error}", name) from None
    severity, severity_line = values["severity"]
    if severity.upper() not in SEVERITIES:
        raise fail(
            severity_line, f"severity {severity!r}; use one of {', '.join(SEVERITIES)}", name
        )
    return Rule(name, condition, severity.upper(), values["action"][0], _line(key))


def _scalar(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return None


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1
