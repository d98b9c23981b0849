"""Rendering shipline's SQL (written in the DuckDB dialect) for another engine.

sqlglot does most of the work. What it cannot know is how we want a few DuckDB
constructs spelled elsewhere; those rewrites live here, as AST transforms, so the
SQL in the pipeline stays written once.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp


def _epoch_microseconds(node: exp.Expr, dialect: str) -> exp.Expr:
    """``epoch_us(ts)``: integer microseconds since 1970, exact on every engine."""
    if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "epoch_us"):
        return node
    (value,) = node.expressions
    if dialect == "redshift":
        return exp.cast(
            exp.Anonymous(
                this="DATEDIFF",
                expressions=[
                    exp.var("microsecond"),
                    exp.cast(exp.Literal.string("1970-01-01"), "TIMESTAMPTZ"),
                    value,
                ],
            ),
            "BIGINT",
        )
    # EXTRACT(EPOCH ...) is numeric with microsecond precision on PostgreSQL 14+.
    seconds = exp.Extract(this=exp.var("EPOCH"), expression=value)
    return exp.cast(exp.Mul(this=seconds, expression=exp.Literal.number(1_000_000)), "BIGINT")


def _null_safe_comparisons(node: exp.Expr) -> exp.Expr:
    """``a IS DISTINCT FROM b`` for engines without it (Redshift)."""
    if isinstance(node, exp.NullSafeNEQ | exp.NullSafeEQ):
        left, right = node.this, node.expression
        equal = exp.or_(
            exp.EQ(this=left.copy(), expression=right.copy()),
            exp.and_(
                exp.Is(this=left.copy(), expression=exp.Null()),
                exp.Is(this=right.copy(), expression=exp.Null()),
            ),
        )
        same = exp.paren(equal)
        return same if isinstance(node, exp.NullSafeEQ) else exp.not_(same)
    return node


def _filtered_aggregates(node: exp.Expr) -> exp.Expr:
    """``agg(x) FILTER (WHERE c)`` as ``agg(CASE WHEN c THEN x END)`` (Redshift)."""
    if not isinstance(node, exp.Filter):
        return node
    aggregate = node.this
    condition = node.expression.this
    argument = aggregate.this if not isinstance(aggregate.this, exp.Star) else exp.Literal.number(1)
    rewritten: exp.Expr = aggregate.copy()
    rewritten.set("this", exp.Case(ifs=[exp.If(this=condition, true=argument)]))
    return rewritten


def _integer_division(node: exp.Expr) -> exp.Expr:
    """``a // b`` on integers as ``CAST(a AS BIGINT) / b``: exact, where sqlglot would go
    through a float (the cast keeps a NUMERIC sum from dividing with a fraction)."""
    if isinstance(node, exp.IntDiv):
        dividend = exp.cast(node.this, "BIGINT")
        return exp.Div(this=dividend, expression=node.expression, typed=True)
    return node


def _framed_first_values(node: exp.Expr) -> exp.Expr:
    """An ordered ``first_value`` window with the frame Redshift insists on.

    Redshift refuses an ordered FIRST_VALUE without a frame clause. The first row
    of the partition is the same whatever the frame, so the whole partition is it.
    A named window (``OVER w``) is spelled out first, as Redshift has no WINDOW clause.
    """
    if not (isinstance(node, exp.Window) and isinstance(node.this, exp.FirstValue)):
        return node
    if node.args.get("spec") is not None:
        return node
    definition: exp.Expr = node
    select = node.find_ancestor(exp.Select)
    alias = node.args.get("alias")
    if alias is not None and select is not None:
        for named in select.args.get("windows") or []:
            if named.alias_or_name == alias.name:
                definition = named
    if definition.args.get("order") is None:
        return node
    partition = definition.args.get("partition_by") or []
    return exp.Window(
        this=node.this.copy(),
        partition_by=[column.copy() for column in partition],
        order=definition.args["order"].copy(),
        spec=exp.WindowSpec(
            kind="ROWS",
            start="UNBOUNDED",
            start_side="PRECEDING",
            end="UNBOUNDED",
            end_side="FOLLOWING",
        ),
        over="OVER",
    )


def _redshift_types_and_sets(node: exp.Expr) -> exp.Expr:
    """Redshift spells a duration column ``INTERVAL DAY TO SECOND`` and has no
    ``EXCEPT ALL`` (our compared rows are unique by key, so ``EXCEPT`` is the same)."""
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INTERVAL:
        return exp.DataType.build("INTERVAL DAY TO SECOND", dialect="redshift")
    if isinstance(node, exp.Except) and not node.args.get("distinct"):
        node = node.copy()
        node.set("distinct", True)
    return node


REDSHIFT_TABLE_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "shipment_events": ("shipment_id", ("shipment_id", "event_timestamp")),
    "shipment_timeline_base": ("shipment_id", ("shipment_id", "event_timestamp", "event_id")),
    "shipment_timeline_incremental": (
        "shipment_id",
        ("shipment_id", "event_timestamp", "event_id"),
    ),
    "shipment_state": ("shipment_id", ("shipment_id",)),
    "shipment_dwell": ("shipment_id", ("shipment_id", "location_id")),
}
"""The distribution key and compound sort key of the tables read by shipment.

Redshift has no indexes: one shipment's rows are found by zone maps over the sort
key, and joins on ``shipment_id`` stay on one node when it is the distribution key.
They are set when the table is created (migrations 0001 and 0020), so no stored table has to
be redistributed or re-sorted later by ``ALTER TABLE``.
"""


def _redshift_table_keys(statement: exp.Expr) -> exp.Expr:
    """``CREATE TABLE`` of a table in ``REDSHIFT_TABLE_KEYS``, with its keys."""
    if not (isinstance(statement, exp.Create) and str(statement.args.get("kind")) == "TABLE"):
        return statement
    if not isinstance(statement.this, exp.Schema) or statement.find(exp.TemporaryProperty):
        return statement  # only the stored tables, spelled out column by column
    table = statement.find(exp.Table)
    keys = REDSHIFT_TABLE_KEYS.get(table.name) if table is not None else None
    if keys is None:
        return statement
    distribution, sort = keys
    statement = statement.copy()
    properties = statement.args.get("properties") or exp.Properties(expressions=[])
    properties.append("expressions", exp.DistStyleProperty(this=exp.var("KEY")))
    properties.append("expressions", exp.DistKeyProperty(this=exp.to_identifier(distribution)))
    properties.append(
        "expressions",
        exp.SortKeyProperty(this=[exp.to_identifier(name) for name in sort], compound=True),
    )
    statement.set("properties", properties)
    return statement


def _split(statement: exp.Expr) -> list[exp.Expr]:
    """``CREATE OR REPLACE TEMP TABLE`` as a DROP then a CREATE, which all engines have."""
    if isinstance(statement, exp.Create) and statement.args.get("replace"):
        kind = str(statement.args.get("kind", "")).upper()
        if kind == "TABLE":
            drop = exp.Drop(tables=[statement.this.copy()], kind="TABLE", exists=True)
            create = statement.copy()
            create.set("replace", False)
            return [drop, create]
        if kind == "VIEW":
            drop = exp.Drop(tables=[statement.this.copy()], kind="VIEW", exists=True, cascade=True)
            create = statement.copy()
            create.set("replace", False)
            return [drop, create]
    return [statement]


@lru_cache(maxsize=1024)
def render(sql: str, dialect: str) -> tuple[str, ...]:
    """The statements of ``sql`` (DuckDB dialect) as ``dialect`` SQL, in order."""
    rendered: list[str] = []
    for statement in sqlglot.parse(sql, read="duckdb"):
        if statement is None:
            continue
        for part in _split(statement):
            part = part.transform(lambda node: _epoch_microseconds(node, dialect))
            if dialect == "redshift":
                part = _redshift_table_keys(part)
                part = (
                    part.transform(_null_safe_comparisons)
                    .transform(_filtered_aggregates)
                    .transform(_integer_division)
                    .transform(_framed_first_values)
                    .transform(_redshift_types_and_sets)
                )
            rendered.append(part.sql(dialect=dialect))
    return tuple(rendered)
