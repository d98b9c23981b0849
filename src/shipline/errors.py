"""One error hierarchy for shipline.

Every message says what happened and what to do. The CLI maps these errors to
exit codes and the API maps them to HTTP status codes, so callers never match on
message text. ``transient`` says whether retrying the same work may succeed.
"""

from __future__ import annotations


class ShiplineError(Exception):
    """The root of every error shipline raises on purpose."""

    exit_code = 1
    transient = False


class ConfigError(ShiplineError):
    """A setting, a rules file or an alias table is wrong."""

    exit_code = 2


class ValidationError(ShiplineError):
    """Input does not satisfy the event contract or a request's schema."""

    exit_code = 3


class NotFoundError(ShiplineError):
    """A shipment, a dead letter or a file that was asked for does not exist."""

    exit_code = 4


class BackendError(ShiplineError):
    """The database refused or failed an operation."""

    exit_code = 5


class TransientBackendError(BackendError):
    """The database is busy or unreachable; retry later."""

    transient = True


class DriftError(ShiplineError):
    """`verify` found rows that differ from a full recompute."""

    exit_code = 6


class StuckError(ShiplineError):
    """`verify` found the view behind the store: held shipments, or events waiting
    longer than ``verify_max_pending_seconds``."""

    exit_code = 8


class LoadError(ShiplineError):
    """A landing-zone file could not be loaded into its table."""

    exit_code = 7


class NothingAcceptedError(ValidationError):
    """The input held no record shipline accepted (all refused, or none at all)."""

    exit_code = 9


class ChecksFailedError(ShiplineError):
    """``alerts check`` found a rule firing, or ``quality`` a failing check."""

    exit_code = 10
