"""Alert rule files: seed 000's form, units, and refusals that name the rule and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipline.errors import ConfigError
from shipline.monitor import load_rules, parse_rules, resolve_rules_path
from shipline.monitor.rules import parse_condition


def test_the_packaged_defaults_are_seed_000s_four_rules_and_one_for_holds() -> None:
    rules = {rule.name: rule for rule in load_rules()}
    assert list(rules) == [
        "ProcessingLag",
        "HighErrorRate",
        "DataQualityIssue",
        "CostAnomaly",
        "ShipmentsHeld",
    ]
    assert rules["ShipmentsHeld"].condition.threshold == 0
    assert rules["ProcessingLag"].condition.threshold == 1800
    assert rules["HighErrorRate"].condition.threshold == pytest.approx(0.05)
    assert rules["DataQualityIssue"].condition.threshold == 1000
    assert rules["CostAnomaly"].condition.threshold == 150
    assert [r.severity for r in rules.values()] == [
        "WARNING",
        "CRITICAL",
        "WARNING",
        "INFO",
        "CRITICAL",
    ]
    assert rules["HighErrorRate"].action == "Page on-call engineer"


@pytest.mark.parametrize(
    ("text", "metric", "comparator", "threshold"),
    [
        ("processing_lag > 30 minutes", "processing_lag", ">", 1800),
        ("processing_lag>=2hours", "processing_lag", ">=", 7200),
        ("data_freshness < 1 day", "data_freshness", "<", 86400),
        ("query_latency <= 0.5 seconds", "query_latency", "<=", 0.5),
        ("error_rate == 12.5%", "error_rate", "==", 0.125),
        ("daily_cost != $150.25", "daily_cost", "!=", 150.25),
        ("missing_events > 1000", "missing_events", ">", 1000),
    ],
)
def test_conditions_carry_units_into_base_units(
    text: str, metric: str, comparator: str, threshold: float
) -> None:
    condition = parse_condition(text)
    assert (condition.metric, condition.comparator) == (metric, comparator)
    assert condition.threshold == pytest.approx(threshold)


RULE = 'Alerts:\n  Broken:\n    condition: "{}"\n    severity: "WARNING"\n    action: "x"\n'


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("processing_delay > 30 minutes", "unknown metric 'processing_delay'"),
        ("processing_lag > 30", "processing_lag is a duration"),
        ("processing_lag > 30 fortnights", "processing_lag is a duration"),
        ("error_rate > 0.05", "error_rate is a ratio"),
        ("daily_cost > 150", "daily_cost is money"),
        ("missing_events > 10%", "missing_events is a count"),
        ("processing_lag => 3 minutes", "unexpected"),
        ("processing_lag > minutes", "expected a number"),
        ("__import__('os') > 1", "unexpected"),
        ("processing_lag > 3 minutes or 1", "unexpected 'or'"),
        ("> 3", "expected 'metric comparator value'"),
    ],
)
def test_bad_conditions_are_refused_with_the_rule_line_and_reason(
    condition: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_rules(RULE.format(condition.replace('"', '\\"')), "alerts.yaml")
    message = str(refused.value)
    assert "alerts.yaml rule 'Broken' line 3" in message
    assert reason in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Alerts: [", "line 1: not valid YAML"),
        ("- a\n- b\n", "line 1: expected a top-level 'Alerts:' mapping"),
        ("Other: {}\n", "line 1: expected a top-level 'Alerts:' mapping"),
        ("Alerts:\n  A: 3\n", "rule 'A' line 2: expected condition, severity and action"),
        (
            "Alerts:\n  A:\n    condition: 'runs > 1'\n    action: x\n",
            "rule 'A' line 2: missing 'severity'",
        ),
        (
            "Alerts:\n  A:\n    condition: 'runs > 1'\n    severity: LOUD\n    action: x\n",
            "rule 'A' line 4: severity 'LOUD'",
        ),
        (
            "Alerts:\n  A:\n    condition: 'runs > 1'\n    severity: INFO\n    action: x\n"
            "    when: now\n",
            "rule 'A' line 6: unknown field 'when'",
        ),
        (
            "Alerts:\n  A:\n    condition: 'runs > 1'\n    severity: INFO\n    action: x\n"
            "  A:\n    condition: 'runs > 2'\n    severity: INFO\n    action: x\n",
            "rule 'A' line 6: defined twice",
        ),
    ],
)
def test_malformed_files_are_refused_with_line_and_reason(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"alert rules f\.yaml") as refused:
        parse_rules(text, "f.yaml")
    assert expected in str(refused.value)


def test_the_rules_path_falls_back_to_the_packaged_defaults(tmp_path: Path) -> None:
    missing = tmp_path / "alerts.yaml"
    assert resolve_rules_path(str(missing)) is None
    missing.write_text(RULE.format("runs > 3"))
    assert resolve_rules_path(str(missing)) == missing
    assert [rule.name for rule in load_rules(missing)] == ["Broken"]
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "elsewhere.yaml")
