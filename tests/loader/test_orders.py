"""Generated orders load cleanly; JSON converts to narrowed Parquet; bad JSON is refused."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from shipline.cli.main import app
from shipline.errors import LoadError
from shipline.generate.orders import generate_orders, write_orders
from shipline.loader.convert import json_to_parquet
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import fresh_database

runner = CliRunner()


def test_generated_orders_are_consistent() -> None:
    data = generate_orders(2_000, seed=3, days=2)
    summary, items = data.summary, data.items
    assert pc.count_distinct(summary.column("order_id")).as_py() == 2_000
    keys = pa.table({"o": items.column("order_id"), "l": items.column("line_number")})
    assert keys.group_by(["o", "l"]).aggregate([]).num_rows == items.num_rows
    per_order = items.group_by("order_id").aggregate([("line_total", "sum")])
    totals = dict(
        zip(
            per_order.column("order_id").to_pylist(),
            per_order.column("line_total_sum").to_pylist(),
            strict=True,
        )
    )
    for row in summary.slice(0, 200).to_pylist():
        assert row["subtotal"] == pytest.approx(totals[row["order_id"]], abs=0.01)
        assert row["total"] == pytest.approx(row["subtotal"] + row["shipping"] + row["tax"])
    assert data.flattened.num_rows == items.num_rows
    assert generate_orders(50, seed=1).summary.equals(generate_orders(50, seed=1).summary)


@pytest.mark.parametrize("file_format", ["parquet", "json"])
def test_generated_orders_load_into_three_tables(
    tmp_path: Path, engine: str, file_format: str
) -> None:
    landing = tmp_path / "landing"
    data = generate_orders(1_000, seed=5, days=2)
    files = write_orders(data, landing, file_format=file_format, files_per_day=2)  # type: ignore[arg-type]
    assert all(f.relative_to(landing).parts[1].startswith("year=") for f in files)
    with fresh_database(engine) as db, Pipeline(Settings(database=db)) as pipeline:
        outcomes = pipeline.load_files([str(landing)])
        assert {o["status"] for o in outcomes} == {"loaded"}, outcomes
        count = pipeline.backend.scalar
        assert count("SELECT count(*) FROM order_summary") == 1_000
        assert count("SELECT count(*) FROM order_items") == data.items.num_rows
        assert count("SELECT count(*) FROM order_flattened") == data.items.num_rows
        assert count("SELECT sum(total) FROM order_summary") == pytest.approx(
            pc.sum(data.summary.column("total")).as_py(), abs=0.01
        )


def test_cli_generates_and_converts(tmp_path: Path) -> None:
    out = tmp_path / "landing"
    result = runner.invoke(
        app, ["generate", "orders", "--out", str(out), "--orders", "300", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    source = next((out / "order_items").rglob("*.json"))
    target = tmp_path / "items.parquet"
    converted = runner.invoke(app, ["convert", "json-to-parquet", str(source), str(target)])
    assert converted.exit_code == 0, converted.output
    schema = pq.read_schema(target)
    assert schema.field("line_number").type == pa.int32()
    assert schema.field("quantity").type == pa.int32()
    assert schema.field("unit_price").type == pa.float64()
    metadata = pq.ParquetFile(target).metadata.row_group(0)
    encodings = {
        metadata.column(i).path_in_schema: metadata.column(i).encodings
        for i in range(metadata.num_columns)
    }
    assert any("DICTIONARY" in e for e in encodings["category"])
    original = json.loads(source.read_text())
    assert pq.read_table(target).column("order_id").to_pylist() == [r["order_id"] for r in original]


def test_convert_gzipped_ndjson_and_refuse_malformed(tmp_path: Path) -> None:
    good = tmp_path / "a.ndjson.gz"
    good.write_bytes(gzip.compress(b'{"id": 1, "big": 9999999999}\n{"id": 2, "big": 1}\n'))
    result = json_to_parquet(good, tmp_path / "a.parquet")
    assert (result.rows, result.narrowed) == (2, ("id",))
    assert pq.read_schema(tmp_path / "a.parquet").field("big").type == pa.int64()
    bad = tmp_path / "b.json"
    bad.write_text('[{"id": 1}, {"id": ')
    with pytest.raises(LoadError, match="cannot be read as json"):
        json_to_parquet(bad, tmp_path / "b.parquet")
    assert not (tmp_path / "b.parquet").exists()
    missing = runner.invoke(
        app, ["convert", "json-to-parquet", str(tmp_path / "none.json"), "x.parquet"]
    )
    assert missing.exit_code != 0
    assert "cannot be read" in str(missing.exception)
