"""The Redshift backend's connection through AWS's driver, ``redshift_connector``.

Chosen by ``?driver=redshift_connector`` on a ``redshift://`` URL. The URL's other
query parameters are ``redshift_connector.connect``'s own keywords (``iam``,
``region``, ``serverless_work_group``, ``ssl``, ...), converted to the types its
signature names. Install it with the ``redshift`` extra.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
import redshift_connector
from redshift_connector.cursor import Cursor
from redshift_connector.error import Error, InterfaceError, OperationalError

from shipline.errors import BackendError, ConfigError, TransientBackendError
from shipline.store.backend import Params

DEFAULT_PORT = 5439


def connect_arguments(url: str) -> dict[str, Any]:
    """``redshift_connector.connect``'s keywords for a ``redshift://`` URL."""
    parts = urlsplit(url)
    arguments: dict[str, Any] = {"host": parts.hostname, "port": parts.port or DEFAULT_PORT}
    if parts.path.strip("/"):
        arguments["database"] = unquote(parts.path.strip("/"))
    if parts.username:
        arguments["user"] = unquote(parts.username)
    if parts.password:
        arguments["password"] = unquote(parts.password)
    hints = typing.get_type_hints(redshift_connector.connect)
    hints.pop("return")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "driver":
            continue  # shipline's own
        if key not in hints:
            raise ConfigError(f"redshift_connector.connect has no setting {key!r} (in {url})")
        arguments[key] = _typed(key, value, hints[key])
    return arguments


def _typed(key: str, value: str, hint: Any) -> Any:
    """A query parameter's text as the type ``connect`` declares for it."""
    kinds = typing.get_args(hint) or (hint,)
    if bool in kinds:
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key} must be true or false, not {value!r}")
    if int in kinds:
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, not {value!r}") from None
    if any(typing.get_origin(kind) is list for kind in kinds):
        return value.split(",")
    return value


class RedshiftConnectorConnection:
    """A ``redshift_connector`` connection standing in for psycopg's.

    Autocommit is on, as with psycopg, and ``transaction()`` sends BEGIN itself.
    The driver does not keep the server's "transaction failed" status, so the
    connection remembers whether a statement failed inside the open transaction.
    """

    def __init__(self, url: str) -> None:
        arguments = connect_arguments(url)
        where = f"{arguments['host']}:{arguments['port']}/{arguments.get('database', '')}"
        try:
            self._con = redshift_connector.connect(**arguments)
        except (Error, OSError) as error:
            raise TransientBackendError(f"cannot connect to {where}: {message(error)}") from error
        self._con.autocommit = True
        self._failed = False
        self._broken = False

    def run(self, statement: str, params: Params = None) -> Cursor:
        try:
            return self._con.cursor().execute(statement, params)
        except Exception as error:
            self._failed = self._con.in_transaction
            # The driver's own errors, with no server response, mean the socket is gone.
            self._broken = isinstance(error, InterfaceError | OSError) and not _fields(error)
            raise

    def copy_in(self, statement: str, data: bytes) -> None:
        # The driver takes a stream for COPY but cannot read the server's
        # CopyInResponse, and Redshift has no COPY FROM STDIN anyway.
        raise BackendError("COPY ... FROM STDIN is not available over redshift_connector")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.run("BEGIN")
        self._failed = False
        try:
            yield
        except BaseException:
            # The block's error is the one to report, not a failed rollback's.
            with suppress(Error, OSError):
                self._con.rollback()
            raise
        finally:
            self._failed = False
        self._con.commit()

    def transaction(self) -> AbstractContextManager[object]:
        return self._transaction()

    def failed(self) -> bool:
        return self._failed

    def broken(self) -> bool:
        return self._broken

    def translate_errors(self) -> AbstractContextManager[None]:
        return translate_errors()

    def close(self) -> None:
        with suppress(Error, OSError):
            self._con.close()


@contextmanager
def translate_errors() -> Iterator[None]:
    """redshift_connector's errors as shipline's, classed as psycopg's would be.

    The server's errors carry its SQLSTATE: conflicts, and the classes psycopg
    calls operational (lock timeouts, shutdowns, too many connections), are worth
    a retry. So is a connection the driver finds broken or closed.
    """
    try:
        yield
    except (Error, OSError) as error:
        code = _fields(error).get("C", "")
        if code in ("40001", "40P01"):
            raise TransientBackendError(f"transaction conflict: {message(error)}; retry") from error
        client_side_outage = isinstance(error, InterfaceError | OperationalError | OSError)
        if _operational(code) or (not code and client_side_outage):
            raise TransientBackendError(
                f"database unavailable: {message(error)}; retry later"
            ) from error
        raise BackendError(message(error)) from error


def message(error: Exception) -> str:
    """The server's message with its detail and hint, as psycopg words them."""
    fields = _fields(error)
    if "M" not in fields:  # the driver's own error, e.g. ("communication error", OSError)
        return ": ".join(str(arg) for arg in error.args) or type(error).__name__
    lines = [fields["M"]]
    for key, label in (("D", "DETAIL"), ("H", "HINT")):
        if key in fields:
            lines.append(f"{label}:  {fields[key]}")
    return "\n".join(lines)


def _fields(error: Exception) -> dict[str, str]:
    """An ErrorResponse's fields (``C`` the SQLSTATE, ``M`` the message); empty if none."""
    first = error.args[0] if error.args else None
    return first if isinstance(first, dict) else {}


def _operational(code: str) -> bool:
    try:
        kind = psycopg.errors.lookup(code)
    except KeyError:
        return False
    return issubclass(kind, psycopg.OperationalError)
