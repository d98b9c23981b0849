"""Evaluating alert rules, with firing/resolved state kept in ``alert_state``.

A rule notifies once when it starts firing and once when it resolves; evaluations
in between only update its last value. A rule seen for the first time while it
holds fires (and notifies); one seen first while quiet records ``ok`` silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shipline.monitor.rules import Rule, reading
from shipline.notify.base import Notification, Notifier
from shipline.store import Backend

State = Literal["firing", "ok"]


@dataclass(frozen=True)
class AlertOutcome:
    """One rule after one evaluation."""

    rule: str
    condition: str
    severity: str
    action: str
    value: float
    state: State
    changed: bool
    since: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready outcome."""
        return {**self.__dict__, "since": self.since.isoformat()}


def evaluate_rules(
    backend: Backend,
    rules: Sequence[Rule],
    metrics: dict[str, float],
    notifier: Notifier | None = None,
    now: datetime | None = None,
) -> list[AlertOutcome]:
    """Evaluate every rule on ``metrics``, notify the transitions, persist the states.

    A notifier that raises (``FanOut``, which the settings' notifiers are, never does;
    the AWS alerts Lambda's SNS notifier does) stops the notifying: the rule it failed
    on and those not yet notified keep their previous state, so the next evaluation
    notifies them again, and the error propagates. A notification is sent at least
    once, never lost; if saving fails after a send, the next evaluation sends it again.
    """
    now = now or datetime.now(UTC)
    previous = {
        str(row[0]): (str(row[1]), row[2])
        for row in backend.fetchall("SELECT rule_name, state, since FROM alert_state")
    }
    outcomes = []
    for rule in rules:
        value = metrics[rule.condition.metric]
        state: State = "firing" if rule.condition.holds(metrics) else "ok"
        before = previous.get(rule.name)
        changed = state == "firing" if before is None else before[0] != state
        since = now if changed or before is None else before[1]
        outcomes.append(
            AlertOutcome(
                rule.name,
                rule.condition.text,
                rule.severity,
                rule.action,
                value,
                state,
                changed,
                since,
            )
        )
    unsent: set[str] = set()
    failure: Exception | None = None
    for outcome in outcomes:
        if notifier is None or not outcome.changed:
            continue
        if failure is None:
            try:
                notifier.send(alert_message(outcome))
                continue
            except Exception as error:  # re-raised once the other states are saved
                failure = error
        unsent.add(outcome.rule)
    with backend.transaction():
        for outcome in outcomes:
            if outcome.rule in unsent:
                continue
            backend.execute("DELETE FROM alert_state WHERE rule_name = ?", [outcome.rule])
            backend.execute(
                "INSERT INTO alert_state (rule_name, state, condition, severity, last_value,"
                " since, last_evaluated_at, last_notified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    outcome.rule,
                    outcome.state,
                    outcome.condition,
                    outcome.severity,
                    outcome.value,
                    outcome.since,
                    now,
                    now if outcome.changed else None,
                ],
            )
    if failure is not None:
        raise failure
    return outcomes


def alert_states(backend: Backend) -> list[dict[str, Any]]:
    """The persisted state of every rule evaluated so far."""
    return backend.fetch_dicts(
        "SELECT rule_name, state, condition, severity, last_value, since, last_evaluated_at,"
        " last_notified_at FROM alert_state ORDER BY rule_name"
    )


def alert_message(outcome: AlertOutcome) -> Notification:
    """The notification of a rule that started firing or resolved."""
    details = {
        "rule": outcome.rule,
        "condition": outcome.condition,
        "severity": outcome.severity,
        "value": outcome.value,
        "state": outcome.state,
        "action": outcome.action,
    }
    if outcome.state == "firing":
        return Notification(
            kind="failure",
            subject=f"shipline: [{outcome.severity}] {outcome.rule} firing",
            text=(
                f"{outcome.rule} is firing: {reading(outcome.condition, outcome.value)}."
                f" Action: {outcome.action}. See docs/runbook.md#{outcome.rule.lower()}"
                " and `shipline alerts check`."
            ),
            details=details,
        )
    return Notification(
        kind="success",
        subject=f"shipline: [{outcome.severity}] {outcome.rule} resolved",
        text=f"{outcome.rule} resolved: {reading(outcome.condition, outcome.value)}.",
        details=details,
    )
