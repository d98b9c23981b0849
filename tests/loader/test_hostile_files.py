"""Hostile and broken landing files, through ``shipline load`` as a user runs it.

A link is refused and moved aside as the link itself; nothing is moved or written
outside the landing folder; any error in one file quarantines it and the next file
loads; a file past the decompression cap is refused; a file whose quarantine fails
is recorded once and left alone until it changes.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipline.cli.main import app
from shipline.errors import LoadError
from shipline.loader import DEFAULT_KEYS, Loader, LocalSource, list_loads
from shipline.notify import FanOut, LogNotifier
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store import Backend
from tests.conftest import Shipline
from tests.engines import fresh_database
from tests.loader.conftest import snapshot

runner = CliRunner()
LINK_REASON = "symlink; the loader does not follow links"
GOOD = "order_summary_20250101_001.csv"


@pytest.fixture
def db(engine: str) -> Iterator[str]:
    """A fresh database that exists (the CLI makes one only for ``init``)."""
    with fresh_database(engine) as database:
        Pipeline(Settings(database=database)).close()
        yield database


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the landing folder, which no load may touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text("order_id,total\nSECRET,9\n")
    return folder


def load(db: str, *args: str) -> tuple[BaseException | None, list[dict[str, Any]]]:
    """``shipline load --json ARGS``: the error it ended with, if any, and the outcomes."""
    result = runner.invoke(app, ["-d", db, "load", "--json", *args])
    return result.exception, json.loads(result.stdout)


def documents(text: str) -> list[Any]:
    """The JSON documents printed one after another (``--watch --json``)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        document, at = decoder.raw_decode(text, len(text) - len(text[at:].lstrip()))
        found.append(document)
    return found


def ledger(db: str) -> list[dict[str, Any]]:
    """The load ledger, oldest first."""
    result = runner.invoke(app, ["-d", db, "loads", "list", "--json"])
    return list(reversed(json.loads(result.stdout)))


def tree(folder: Path) -> dict[str, str]:
    """Every path below a folder (links not followed) and what it is."""
    found = {}
    for path in sorted(folder.rglob("*")):
        kind = f"-> {os.readlink(path)}" if path.is_symlink() else "dir" if path.is_dir() else ""
        found[path.relative_to(folder).as_posix()] = kind or path.read_text()
    return found


def test_a_link_to_a_file_outside_is_quarantined_as_the_link(
    db: str, landing: Path, outside: Path
) -> None:
    before = tree(outside)
    (landing / "order_summary_20250101_000.csv").symlink_to(outside / "secret.csv")
    (landing / GOOD).write_text("order_id,total\nA,1\n")

    error, outcomes = load(db, str(landing))

    assert isinstance(error, LoadError) and "1 of 2 file(s) failed" in str(error)
    assert [(o["status"], Path(o["file_key"]).name) for o in outcomes] == [
        ("failed", "order_summary_20250101_000.csv"),
        ("loaded", GOOD),
    ]
    assert outcomes[0]["error"].startswith(LINK_REASON)
    moved = landing / "_quarantine" / "order_summary_20250101_000.csv"
    assert outcomes[0]["quarantined_to"] == str(moved)
    assert moved.is_symlink() and os.readlink(moved) == str(outside / "secret.csv")
    assert (moved.parent / (moved.name + ".reason.txt")).read_text().startswith(LINK_REASON)
    assert not (landing / "order_summary_20250101_000.csv").is_symlink()
    assert tree(outside) == before  # the target is where it was, as it was
    with Pipeline(Settings(database=db)) as pipeline:
        assert snapshot(pipeline.backend, "order_summary") == [("A", 1)]
    failed, loaded = ledger(db)
    assert (failed["status"], loaded["status"]) == ("failed", "loaded")
    assert failed["error"].startswith(LINK_REASON) and failed["quarantined_to"] == str(moved)


def test_a_linked_folder_is_quarantined_as_the_link(db: str, landing: Path, outside: Path) -> None:
    items = outside / "items" / "year=2025" / "month=01" / "day=01"
    items.mkdir(parents=True)
    (items / "order_items_20250101_001.csv").write_text("order_id,line_number\nX,1\n")
    before = tree(outside)
    (landing / "order_items").symlink_to(outside / "items")
    (landing / GOOD).write_text("order_id,total\nA,1\n")

    error, outcomes = load(db, str(landing))

    assert isinstance(error, LoadError)
    assert [(o["status"], o["file_key"]) for o in outcomes] == [
        ("failed", str(landing / "order_items")),
        ("loaded", str(landing / GOOD)),
    ]
    assert (landing / "_quarantine" / "order_items").is_symlink()
    assert tree(outside) == before


def test_loading_a_link_by_name_moves_the_link_not_its_target(
    db: str, landing: Path, outside: Path
) -> None:
    """It used to follow the link and move the target to a _quarantine/ beside it. A
    partitioned file's landing root is above ``<table>/year=…``: a link on the way
    there is refused too."""
    day = outside / "items" / "year=2025" / "month=01" / "day=01"
    day.mkdir(parents=True)
    (day / "order_items_20250101_001.csv").write_text("order_id,line_number\nX,1\n")
    before = tree(outside)
    link = landing / "order_items_20250101_001.csv"
    link.symlink_to(outside / "secret.csv")
    (landing / "order_items").symlink_to(outside / "items")
    through = landing / "order_items" / "year=2025" / "month=01" / "day=01"

    error, outcomes = load(db, str(link), str(through / "order_items_20250101_001.csv"))

    assert isinstance(error, LoadError)
    assert [(o["file_key"], o["error"][: len(LINK_REASON)]) for o in outcomes] == [
        (str(link), LINK_REASON),
        (str(landing / "order_items"), LINK_REASON),  # the link on the way, not the file
    ]
    assert sorted(os.listdir(landing)) == ["_quarantine"]
    assert (landing / "_quarantine" / "order_items_20250101_001.csv").is_symlink()
    assert (landing / "_quarantine" / "order_items").is_symlink()
    assert tree(outside) == before


def test_a_loose_file_is_quarantined_inside_its_own_folder(db: str, tmp_path: Path) -> None:
    """It used to go to a _quarantine/ in the folder's parent."""
    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "order_items.csv").write_text("order_id,qty\nA,1\n")  # no line_number key

    error, (outcome,) = load(db, str(drops / "order_items.csv"))

    assert isinstance(error, LoadError) and outcome["status"] == "failed"
    assert outcome["quarantined_to"] == str(drops / "_quarantine" / "order_items.csv")
    assert (drops / "_quarantine" / "order_items.csv").read_text() == "order_id,qty\nA,1\n"
    assert sorted(os.listdir(tmp_path)) == ["drops"]


def _nested_json(landing: Path) -> None:
    """100,000 nested brackets, as NDJSON (which crashed pyarrow's reader, killing the
    process) and as a JSON array (a RecursionError); then a good file."""
    deep = b"[" * 100_000 + b"]" * 100_000
    (landing / "order_summary_20250101_000.ndjson").write_bytes(
        b'{"order_id": "A", "x": ' + deep + b"}\n"
    )
    (landing / "order_summary_20250101_000.json").write_bytes(b"[" * 100_000)
    (landing / GOOD).write_text("order_id,total\nA,1\n")


def test_deeply_nested_json_is_quarantined_and_the_next_file_loads(
    shipline: Shipline, landing: Path
) -> None:
    _nested_json(landing)
    Pipeline(Settings(database=shipline.database)).close()

    first = shipline("load", "--json", str(landing))  # a process of its own: it may crash

    assert first.returncode == 7, first.stderr  # not killed by a signal (negative)
    outcomes = {Path(o["file_key"]).name: o for o in json.loads(first.stdout)}
    assert [outcomes[name]["status"] for name in sorted(outcomes)] == [
        "failed",  # order_summary_20250101_000.json
        "failed",  # order_summary_20250101_000.ndjson
        "loaded",
    ]
    for name in ("order_summary_20250101_000.ndjson", "order_summary_20250101_000.json"):
        assert "JSON nested" in outcomes[name]["error"]
        assert (landing / "_quarantine" / name).is_file()
    error, again = load(shipline.database, str(landing))  # a restart finds nothing new
    assert (error, [o["status"] for o in again]) == (None, ["skipped"])


def test_watch_survives_hostile_files(
    shipline: Shipline, landing: Path, outside: Path, tmp_path: Path
) -> None:
    _nested_json(landing)
    (landing / "order_summary_20250101_002.csv").symlink_to(outside / "secret.csv")
    Pipeline(Settings(database=shipline.database)).close()

    watched = shipline(
        "load", "--json", "--watch", str(landing), "--interval", "0.01", "--max-polls", "3"
    )

    assert watched.returncode == 0, watched.stderr
    outcomes = documents(watched.stdout)
    assert sorted((Path(o["file_key"]).name, o["status"]) for o in outcomes) == [
        ("order_summary_20250101_000.json", "failed"),
        ("order_summary_20250101_000.ndjson", "failed"),
        (GOOD, "loaded"),
        ("order_summary_20250101_002.csv", "failed"),
    ]
    assert sorted(os.listdir(landing)) == ["_quarantine", GOOD]
    assert (landing / "_quarantine" / "order_summary_20250101_002.csv").is_symlink()
    assert len(ledger(shipline.database)) == 4


def test_a_file_whose_quarantine_fails_is_recorded_once(db: str, landing: Path) -> None:
    (landing / "_quarantine").write_text("a file where the quarantine folder would go\n")
    bad = landing / "order_items.csv"
    bad.write_text("order_id,qty\nA,1\n")  # no line_number key

    error, (first,) = load(db, str(landing))
    assert isinstance(error, LoadError)
    assert (first["status"], first["quarantined_to"]) == ("failed", None)
    assert "(not quarantined: " in first["error"]
    assert "not tried again until it changes" in first["error"]

    error, (again,) = load(db, str(landing))
    assert (error, again["status"]) == (None, "skipped")
    assert again["error"].startswith("failed before with this checksum")
    watched = runner.invoke(
        app, ["-d", db, "load", "--watch", str(landing), "--interval", "0.01", "--max-polls", "4"]
    )
    assert watched.exit_code == 0, watched.output
    assert bad.is_file()
    assert [(Path(r["file_key"]).name, r["status"]) for r in ledger(db)] == [
        ("order_items.csv", "failed")
    ]
    dead = json.loads(runner.invoke(app, ["-d", db, "dlq", "list", "--json"]).stdout)
    assert len(dead) == 1

    bad.write_text("order_id,qty\nA,2\n")  # changed: tried again
    error, (changed,) = load(db, str(landing))
    assert isinstance(error, LoadError) and changed["status"] == "failed"
    assert len(ledger(db)) == 2


def test_a_quarantine_linked_outside_is_not_written_through(
    db: str, landing: Path, outside: Path
) -> None:
    before = tree(outside)
    (landing / "_quarantine").symlink_to(outside)
    (landing / "order_items.csv").write_text("order_id,qty\nA,1\n")

    error, (outcome,) = load(db, str(landing))

    assert isinstance(error, LoadError)
    assert (outcome["status"], outcome["quarantined_to"]) == ("failed", None)
    assert (landing / "order_items.csv").is_file()
    assert tree(outside) == before
    assert load(db, str(landing))[1][0]["status"] == "skipped"


def _gzip_of(path: Path, line: bytes, size: int) -> Path:
    """A gzip file at ``path`` that expands to about ``size`` bytes of ``line``s."""
    member = gzip.compress(line * (1024 * 1024 // len(line)), compresslevel=9)
    path.write_bytes(member * (size // (1024 * 1024)))
    return path


def test_files_past_the_decompression_cap_are_refused(
    backend: Backend, source: LocalSource, landing: Path
) -> None:
    cap = 4 * 1024 * 1024
    events: list[Path] = []

    def load_events(path: Path) -> tuple[int, int, int]:
        events.append(path)
        return 1, 1, 0

    loader = Loader(
        backend,
        FanOut([LogNotifier()]),
        keys=DEFAULT_KEYS,
        events_loader=load_events,
        max_uncompressed_bytes=cap,
    )
    line = json.dumps({"order_id": "A", "note": "n" * 10_000}).encode() + b"\n"
    bomb = _gzip_of(landing / "order_summary_20250101_000.json.gz", line, 300 * 1024 * 1024)
    big = landing / "order_summary_20250101_001.csv"
    big.write_bytes(b"order_id\n" + b"A\n" * (cap // 2))
    events_bomb = landing / "shipment_events" / "year=2025" / "month=01" / "day=01" / "e.ndjson.gz"
    events_bomb.parent.mkdir(parents=True)
    _gzip_of(events_bomb, line, 8 * 1024 * 1024)
    _gzip_of(landing / "order_summary_20250101_002.json.gz", b'{"order_id": "B"}\n', cap // 4)
    assert bomb.stat().st_size < 500_000  # expands to 300 MB

    outcomes = {Path(o.file_key).name: o for o in loader.load_all(source)}

    assert outcomes[bomb.name].error == (
        f"{bomb.name}: expands to more than the 4,194,304 bytes loader_max_uncompressed_bytes"
        " allows when decompressed; split the file, or raise loader_max_uncompressed_bytes"
    )
    assert outcomes[big.name].error == (
        f"{big.name}: 4,194,313 bytes, more than the 4,194,304 bytes"
        " loader_max_uncompressed_bytes allows; split the file, or raise"
        " loader_max_uncompressed_bytes"
    )
    assert "expands to more than" in (outcomes[events_bomb.name].error or "")
    assert events == []  # refused before the event ingest saw it
    for name in (bomb.name, big.name, events_bomb.name):
        assert outcomes[name].status == "failed"
        assert outcomes[name].quarantined_to is not None
        assert Path(outcomes[name].quarantined_to or "").is_file()
    assert outcomes["order_summary_20250101_002.json.gz"].status == "loaded"  # under the cap
    assert snapshot(backend, "order_summary") == [("B",)]
    assert [r["status"] for r in list_loads(backend)].count("failed") == 3


def test_any_error_while_loading_a_file_quarantines_it(
    backend: Backend, source: LocalSource, landing: Path
) -> None:
    def broken_ingest(path: Path, file_format: str | None) -> tuple[int, int, int]:
        raise RuntimeError("the ingest path broke")

    loader = Loader(backend, FanOut([LogNotifier()]), events_loader=broken_ingest)
    events = landing / "shipment_events_20250101_001.ndjson"
    events.write_text('{"event_id": "E1"}\n')
    (landing / GOOD).write_text("order_id,total\nA,1\n")

    good, bad = loader.load_all(source)  # in key order

    assert (bad.status, good.status) == ("failed", "loaded")
    assert bad.error == (
        "cannot be loaded (RuntimeError: the ingest path broke); fix or re-export the file"
    )
    assert bad.quarantined_to == str(landing / "_quarantine" / events.name)
    assert list_loads(backend, status="failed")[0]["error"] == bad.error


def test_special_files_and_deep_folders_do_not_stop_the_listing(landing: Path) -> None:
    os.mkfifo(landing / "order_summary_20250101_000.csv")  # reading it would wait forever
    folders = [landing / ("d/" * depth) for depth in range(1, 1_201)]
    for folder in folders:  # deeper than Python's recursion limit
        folder.mkdir()
    (folders[-1] / GOOD).write_text("order_id\nA\n")
    try:
        listed = LocalSource(landing).list_files()

        assert [file.relative for file in listed] == ["d/" * 1_200 + GOOD]
    finally:
        # pytest's clean-up of old temporary folders recurses, and this tree would
        # make it fail in a later session: take it down here, deepest first.
        (folders[-1] / GOOD).unlink()
        for folder in reversed(folders):
            folder.rmdir()
