"""Rows as a terminal table laid out for the terminal's width when it is printed.

An id, a file path, a URL, a timestamp or a number is never broken across lines; only
prose (a reason, an error, a description) wraps, at word boundaries. A header wraps at
its underscores. When the columns do not fit, some are left out and a line under the
table names them; a value too wide for the terminal on its own (a long path) is
shortened in the middle, so its end, the part that tells files apart, stays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from shipline.jsonable import jsonable

PROSE = frozenset(
    {"reason", "error", "errors", "message", "description", "meaning", "action", "detail"}
)
"""Columns of prose. A column is prose too when one of its values is a long phrase."""

_PHRASE_LENGTH = 40
_NARROWEST_PROSE = 24
_LONGEST_WORD = 32  # prose is at least as wide as its longest word, up to this
_PROSE_FLOOR = 16  # how narrow prose wraps before values are shortened
_STATES = frozenset({"status", "state"})
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_ELLIPSIS = "\u2026"
_PADDING = 3  # a space either side and the border on the right


def display(value: Any, column: str = "") -> str:
    """A value as a person reads it in a table: minutes, h:mm:ss, numbers with thousands
    separators (an id's or a sequence's digits as they are typed back), few decimals."""
    if value is None:
        return ""
    if isinstance(value, str) and _ISO_TIME.match(value):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, timedelta):
        return _clock(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return json.dumps(jsonable(value)) if isinstance(value, dict | list) else str(value)
    if is_identifier(column):
        return str(value)
    if column.endswith("_us"):  # a duration in microseconds
        return _clock(timedelta(microseconds=float(value)))
    if column.endswith("_ms") or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(float(value)) >= 1 else f"{value:.2g}"


def _clock(value: timedelta) -> str:
    """h:mm:ss in whole seconds."""
    seconds = round(abs(value.total_seconds()))
    sign = "-" if value.total_seconds() < 0 and seconds else ""
    return f"{sign}{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def is_identifier(column: str) -> bool:
    """Whether a column holds ids (``load_id``, ``file_key``, ``ingest_seq``)."""
    return column in ("id", "key") or column.endswith(("_id", "_key", "_seq", "_sequence"))


def _is_place(column: str) -> bool:
    return column in ("file", "path", "url", "source") or column.endswith(
        ("_file", "_path", "_url")
    )


def rows_table(
    rows: list[dict[str, Any]],
    columns: list[str],
    title: str | None = None,
    drop_first: Sequence[str] = (),
) -> RowsTable:
    """The given columns of ``rows`` as a table that fits the terminal it is printed on.

    Columns that do not fit are left out, ``drop_first`` first, then from the right;
    the first column, prose, ids, paths and states are kept.
    """
    return RowsTable(rows, columns, title, drop_first)


@dataclass(frozen=True)
class _Column:
    name: str
    cells: list[str]
    prose: bool
    numeric: bool

    @property
    def widest(self) -> int:
        return max((cell_len(text) for text in self.cells), default=0)

    @property
    def header_least(self) -> int:
        return max(cell_len(part) for part in _header_parts(self.name))

    def least(self, cap: int | None = None, prose: int = _NARROWEST_PROSE) -> int:
        """The narrowest it can be, padding aside: prose ``prose`` wide (or as wide as
        its longest word, up to a limit); a value past ``cap`` is to be shortened."""
        if self.prose:
            word = max((cell_len(w) for text in self.cells for w in text.split()), default=0)
            longest = min(word, _LONGEST_WORD if prose == _NARROWEST_PROSE else prose)
            return max(min(self.widest, prose), longest, self.header_least)
        value = self.widest if cap is None else min(self.widest, cap)
        return max(value, self.header_least)

    def most(self) -> int:
        return max(self.widest, cell_len(self.name))

    def shortened(self, width: int) -> _Column:
        cells = [_middle(text, width) for text in self.cells]
        return _Column(self.name, cells, self.prose, self.numeric)


class RowsTable:
    """Rows and columns, laid out when printed, for the console's width."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        columns: list[str],
        title: str | None = None,
        drop_first: Sequence[str] = (),
    ) -> None:
        self.title = title
        self.row_count = len(rows)
        self.columns = [_column(name, [row.get(name) for row in rows]) for name in columns]
        self.drop_order = [*drop_first, *_default_drop_order(self.columns)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        # Leave columns out; if the values still do not fit whole, wrap prose narrower;
        # if they still do not, shorten values wider than two fifths of the terminal
        # rather than leave every other column out.
        for cap, prose in ((None, _NARROWEST_PROSE), (None, _PROSE_FLOOR)):
            shown, left_out = self._fitting(width, cap, prose)
            if _needed(shown, None, prose) <= width:
                break
        else:
            shown, left_out = self._fitting(width, width * 2 // 5, prose)
        yield self._table(_shortened(shown, width, prose), width, prose)
        if left_out:
            yield Text(
                f"(left out to fit {width} columns: {', '.join(left_out)};"
                " a wider terminal shows them)",
                style="dim",
            )

    def _fitting(self, width: int, cap: int | None, prose: int) -> tuple[list[_Column], list[str]]:
        """The columns kept once those in the way are left out, and those left out."""
        shown = list(self.columns)
        left_out: list[str] = []
        for name in self.drop_order:
            if _needed(shown, cap, prose) <= width:
                break
            if name in (column.name for column in shown) and name not in left_out:
                shown = [column for column in shown if column.name != name]
                left_out.append(name)
        return shown, left_out

    def _table(self, columns: list[_Column], width: int, prose: int) -> Table:
        table = Table(
            title=Text(self.title) if self.title else None, show_lines=False, header_style="bold"
        )
        widths = _widths(columns, width, prose)
        for column, fixed in zip(columns, widths, strict=True):
            header = column.name if fixed is None else _header(column.name, fixed)
            table.add_column(
                Text(header),
                justify="right" if column.numeric else "left",
                width=fixed,
                no_wrap=not column.prose,
                overflow="fold" if column.prose else "ellipsis",
            )
        for index in range(self.row_count):
            # Text, not str: a cell is the user's data, never rich markup, so a reason
            # that says "add an alias under [aliases.status]" prints as it says.
            table.add_row(*(Text(column.cells[index]) for column in columns))
        return table


def _column(name: str, values: list[Any]) -> _Column:
    cells = [display(value, name) for value in values]
    prose = name in PROSE or any(" " in text and len(text) > _PHRASE_LENGTH for text in cells)
    numeric = any(v is not None for v in values) and all(
        v is None or (isinstance(v, int | float | Decimal) and not isinstance(v, bool))
        for v in values
    )
    return _Column(name, cells, prose, numeric)


def _default_drop_order(columns: list[_Column]) -> list[str]:
    """From the right; never the first column, prose, an id, a path or a state."""
    return [
        c.name
        for c in reversed(columns[1:])
        if not (c.prose or is_identifier(c.name) or _is_place(c.name) or c.name in _STATES)
    ]


def _needed(columns: list[_Column], cap: int | None = None, prose: int = _NARROWEST_PROSE) -> int:
    return sum(column.least(cap, prose) + _PADDING for column in columns) + 1


def _shortened(columns: list[_Column], width: int, prose: int) -> list[_Column]:
    """The columns, the widest values cut in the middle until the table fits."""
    columns = list(columns)
    while (excess := _needed(columns, None, prose) - width) > 0:
        candidates = [(c.widest, i) for i, c in enumerate(columns) if not c.prose]
        if not candidates:
            break
        widest, index = max(candidates)
        room = max(widest - excess, columns[index].header_least, 9)
        if room >= widest:
            break
        columns[index] = columns[index].shortened(room)
    return columns


def _widths(columns: list[_Column], width: int, prose: int) -> list[int | None]:
    """Fixed widths for the columns other than prose (rich sizes prose to what is left).

    Room to spare goes to the prose first, so that it wraps less, then to headers so
    they wrap less.
    """
    spare = width - _needed(columns, None, prose)
    spare -= sum(c.most() - c.least(None, prose) for c in columns if c.prose)
    widths: list[int | None] = []
    for column in columns:
        if column.prose:
            widths.append(None)
            continue
        grow = max(0, min(spare, column.most() - column.least()))
        spare -= grow
        widths.append(column.least() + grow)
    return widths


def _header_parts(name: str) -> list[str]:
    """``cumulative_transit_hours`` as ``cumulative_``, ``transit_``, ``hours``."""
    return re.findall(r"[^_]+_*|_+", name) or [name]


def _header(name: str, width: int) -> str:
    """The column name on as few lines of ``width`` as breaking after underscores allows."""
    lines: list[str] = []
    for part in _header_parts(name):
        if lines and cell_len(lines[-1]) + cell_len(part) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return "\n".join(lines)


def _middle(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + _ELLIPSIS + text[len(text) - (width - 1 - head) :]
