"""The CDK app: ``python infra/app.py`` (or ``cdk synth -c env=dev`` from ``infra/``).

Context:
- ``env``: ``dev`` (default) or ``prod``; stack and resource names carry it.
- ``notify_email``: optional address subscribed to the notifications topic.
- ``lambda_bundle``: the folder holding the Lambda code (default ``build/lambda``,
  built by ``make lambda-bundle``). If it is absent, a placeholder folder is written
  under ``build/`` so that synthesis and tests work offline; deploy after
  ``make lambda-bundle``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from infra.shipline_stack import ShiplineStack  # noqa: E402

DEFAULT_BUNDLE = ROOT / "build" / "lambda"
PLACEHOLDER = ROOT / "build" / "lambda-placeholder"
PLACEHOLDER_NOTE = '"""Placeholder Lambda code: run `make lambda-bundle` before `cdk deploy`."""\n'


def lambda_code_path(bundle: Path = DEFAULT_BUNDLE, placeholder: Path = PLACEHOLDER) -> Path:
    """The bundle folder if it was built, else a small placeholder folder (created now)."""
    if (bundle / "shipline").is_dir():
        return bundle
    placeholder.mkdir(parents=True, exist_ok=True)
    note = placeholder / "PLACEHOLDER.py"
    if not note.exists() or note.read_text() != PLACEHOLDER_NOTE:
        note.write_text(PLACEHOLDER_NOTE)
    return placeholder


def build_app(app: cdk.App | None = None) -> tuple[cdk.App, ShiplineStack]:
    """The app with its one stack, ``Shipline-<env>``, configured from context."""
    app = app or cdk.App()
    env_suffix = str(app.node.try_get_context("env") or "dev")
    bundle = app.node.try_get_context("lambda_bundle")
    code = lambda_code_path(Path(bundle)) if bundle else lambda_code_path()
    stack = ShiplineStack(
        app,
        f"Shipline-{env_suffix}",
        env_suffix=env_suffix,
        code_path=code,
        notify_email=app.node.try_get_context("notify_email"),
        description=f"shipline: shipment events, timelines and loads ({env_suffix})",
    )
    cdk.Tags.of(stack).add("project", "shipline")
    cdk.Tags.of(stack).add("environment", env_suffix)
    return app, stack


if __name__ == "__main__":
    built, _ = build_app()
    built.synth()
