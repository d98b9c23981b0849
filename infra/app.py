"""The CDK app: ``python infra/app.py`` (or ``npx aws-cdk@2 synth -c env=dev`` from ``infra/``).

Context:
- ``env``: ``dev`` (default) or ``prod``; stack and resource names carry it.
- ``notify_email``: optional address subscribed to the notifications topic.
- ``lambda_bundle``: the folder holding the Lambda code (default ``build/lambda``,
  built by ``make lambda-bundle``).
- ``allow_placeholder``: if true and the bundle is absent, synthesize against a small
  placeholder folder written under ``build/`` (``make synth`` and the tests set it, so
  they work offline on a fresh clone). Without it a missing bundle is an error, so
  ``cdk deploy`` cannot ship Lambdas without shipline's code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from infra.shipline_stack import ShiplineStack  # noqa: E402
from shipline.errors import ConfigError  # noqa: E402

DEFAULT_BUNDLE = ROOT / "build" / "lambda"
PLACEHOLDER = ROOT / "build" / "lambda-placeholder"
PLACEHOLDER_NOTE = '"""Placeholder Lambda code: run `make lambda-bundle` before `cdk deploy`."""\n'
TRUE_WORDS = ("1", "true", "yes")


def lambda_code_path(
    bundle: Path = DEFAULT_BUNDLE,
    placeholder: Path = PLACEHOLDER,
    *,
    allow_placeholder: bool = False,
) -> Path:
    """The bundle folder if it was built; else, if allowed, a placeholder folder (created now).

    Raises ``ConfigError`` when the bundle is absent and no placeholder is allowed.
    """
    if (bundle / "shipline").is_dir():
        return bundle
    if not allow_placeholder:
        raise ConfigError(
            f"no Lambda bundle in {bundle} (it has no shipline/ folder): run "
            "`make lambda-bundle` before `cdk deploy`, or pass `-c allow_placeholder=true` "
            "to synthesize with placeholder code that must not be deployed"
        )
    placeholder.mkdir(parents=True, exist_ok=True)
    note = placeholder / "PLACEHOLDER.py"
    if not note.exists() or note.read_text() != PLACEHOLDER_NOTE:
        note.write_text(PLACEHOLDER_NOTE)
    return placeholder


def context_flag(app: cdk.App, key: str) -> bool:
    """A boolean context value: ``true`` in JSON, or ``-c key=true`` (a string) on the CLI."""
    value = app.node.try_get_context(key)
    return value is True or str(value).strip().lower() in TRUE_WORDS


def build_app(app: cdk.App | None = None) -> tuple[cdk.App, ShiplineStack]:
    """The app with its one stack, ``Shipline-<env>``, configured from context."""
    app = app or cdk.App()
    env_suffix = str(app.node.try_get_context("env") or "dev")
    bundle = app.node.try_get_context("lambda_bundle")
    code = lambda_code_path(
        Path(bundle) if bundle else DEFAULT_BUNDLE,
        allow_placeholder=context_flag(app, "allow_placeholder"),
    )
    if code == PLACEHOLDER:
        print(
            f"note: no Lambda bundle; the Lambdas' code is the placeholder in {code.name}/ "
            "(do not deploy this; run `make lambda-bundle`)",
            file=sys.stderr,
        )
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
    try:
        built, _ = build_app()
    except (ConfigError, ValueError) as error:
        sys.exit(f"error: {error}")
    built.synth()
