"""The dashboard in a real headless Chromium (Debian's package), driven by Playwright."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Dashboard

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class Page:
    """A browser tab on the dashboard that records console errors and page errors."""

    def __init__(self, tab: Any, dashboard: Dashboard) -> None:
        self.tab = tab
        self.dashboard = dashboard
        self.errors: list[str] = []
        tab.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, scope: str = "read") -> None:
        """Load the page and give it a key through its dialog."""
        self.tab.goto(self.dashboard.url + "/")
        self.tab.wait_for_selector("#key-dialog[open]")
        self.tab.fill("#api-key", self.dashboard.keys[scope].key)
        self.tab.click("#key-submit")
        self.tab.wait_for_selector("#live.ok")

    def value(self, selector: str) -> str:
        """The raw value behind a figure (its ``data-value``)."""
        return str(self.tab.get_attribute(selector, "data-value"))


@contextmanager
def opened_tab(browser: Any, dashboard: Dashboard) -> Iterator[Page]:
    """A fresh tab (fresh sessionStorage) at laptop size; no console errors allowed."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    opened = Page(context.new_page(), dashboard)
    yield opened
    context.close()
    assert opened.errors == []


@pytest.fixture
def page(browser: Any, dashboard: Dashboard) -> Iterator[Page]:
    """A tab on the seeded server."""
    with opened_tab(browser, dashboard) as opened:
        yield opened


STATUS_FIGURES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "#stat-events": lambda s: s["events"],
    "#stat-newest-seq": lambda s: s["newest_ingest_seq"],
    "#stat-checkpoint-seq": lambda s: s["checkpoint"]["last_ingest_seq"],
    "#stat-pending": lambda s: s["pending_events"],
    "#stat-shipments": lambda s: s["shipments"],
    "#stat-dead-letters": lambda s: s["open_dead_letters"],
    "#stat-held": lambda s: s["held_shipments"],
    "#stat-base-rows": lambda s: s["base_rows"],
    "#stat-incremental-rows": lambda s: s["incremental_rows"],
}


def wait_for_status_figures(page: Page, status: dict[str, Any]) -> None:
    """Wait until the polled page shows every figure of ``status``."""
    for selector, figure in STATUS_FIGURES.items():
        page.tab.wait_for_function(
            "([s, v]) => document.querySelector(s).dataset.value === v",
            arg=[selector, str(figure(status))],
            timeout=10_000,
        )


def test_page_loads_without_console_errors_and_matches_the_status(
    page: Page, dashboard: Dashboard
) -> None:
    status = dashboard.settled()
    page.open()
    wait_for_status_figures(page, status)
    assert page.tab.locator("#runs-table tbody tr").count() >= 2
    diagram = page.tab.locator("#diagram")
    assert f"{status['events']:,} events" in (diagram.text_content() or "")
    assert page.tab.locator("#dead-table tbody tr").count() == min(10, status["open_dead_letters"])
    assert "order_summary" in page.tab.inner_text("#loads-table tbody")
    assert "1 file" in (page.tab.text_content("#stage-loader") or "")
    page.tab.click("button[data-tab=metrics]")
    page.tab.wait_for_selector("#alerts-table tbody tr td >> nth=0")
    page.tab.wait_for_selector("#chart-throughput circle", state="attached")
    assert page.tab.locator("#chart-duration circle").count() >= 1


def test_searching_a_shipment_draws_its_timeline(page: Page, dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        shipments = client.get("/dashboard/api/shipments", params={"limit": 500}).json()
    chosen = next(row for row in shipments["shipments"] if row["event_count"] >= 3)
    page.open()
    page.tab.click("button[data-tab=shipments]")
    page.tab.fill("#ship-q", chosen["shipment_id"])
    page.tab.click("#ship-search")
    page.tab.wait_for_selector("#timeline-chart rect.span")
    assert page.tab.locator("#timeline-chart rect.span").count() == chosen["event_count"]
    assert page.tab.locator("#timeline-chart polyline").count() == 1
    assert page.tab.locator("#timeline-rows tbody tr").count() == chosen["event_count"]
    assert chosen["shipment_id"] in page.tab.inner_text("#ship-detail h3")

    page.tab.fill("#ship-q", "NO-SUCH-ID")
    page.tab.click("#ship-search")
    page.tab.wait_for_selector("#ship-table td.empty")


def test_a_simulated_late_event_is_explained_and_the_store_is_unchanged(
    page: Page, dashboard: Dashboard
) -> None:
    before = dashboard.settled()
    with dashboard.client() as client:
        shipments = client.get("/dashboard/api/shipments", params={"limit": 500}).json()
    chosen = next(row for row in shipments["shipments"] if row["event_count"] >= 4)
    count = chosen["event_count"]
    page.open("read")
    wait_for_status_figures(page, before)
    explain_late_event(page, chosen["shipment_id"], count - 1)
    rows = page.tab.locator("#explain-rows tbody tr")
    assert rows.count() == count + 1
    assert page.tab.locator("#explain-rows tr[data-verdict=new]").count() == 1
    # the predecessor, and the two events after the late one (renumbered)
    assert page.tab.locator("#explain-rows tr[data-verdict=rewritten]").count() == 3
    assert "your store is unchanged" in page.tab.inner_text("#explain-simulated")
    written = int(page.tab.get_attribute("#explain-cost b >> nth=0", "data-value") or -1)
    full = int(page.tab.get_attribute("#explain-cost b >> nth=1", "data-value") or -1)
    assert 0 < written < full == before["checkpoint"]["view_rows"] + 1

    assert dashboard.settled() == before
    page.tab.click("button[data-tab=shipments]")
    page.tab.fill("#ship-q", chosen["shipment_id"])
    page.tab.click("#ship-search")
    page.tab.wait_for_function(
        "n => document.querySelectorAll('#timeline-chart rect.span').length === n", arg=count
    )


def test_replay_and_rebuild_are_simulated_with_a_read_key(page: Page, dashboard: Dashboard) -> None:
    before = dashboard.settled()
    with dashboard.client() as client:
        chosen = client.get("/dashboard/api/shipments").json()["shipments"][0]
    page.open("read")
    load_for_explanation(page, chosen["shipment_id"])
    for button, badge in (("#explain-replay", "incremental"), ("#explain-rebuild", "daily_base")):
        page.tab.click(button)
        page.tab.wait_for_selector(f"#explain-result h3 .badge.{badge}", timeout=15_000)
        assert page.tab.locator("#explain-rows tr[data-verdict=recomputed]").count() >= 1
    assert dashboard.settled()["checkpoint"] == before["checkpoint"]


def load_for_explanation(page: Page, shipment_id: str) -> None:
    page.tab.click("button[data-tab=explain]")
    page.tab.fill("#explain-id", shipment_id)
    page.tab.click("#explain-load")
    page.tab.wait_for_selector("#explain-inject:enabled")


def explain_late_event(page: Page, shipment_id: str, position: int) -> None:
    load_for_explanation(page, shipment_id)
    page.tab.select_option("#explain-position", str(position))
    page.tab.click("#explain-inject")
    page.tab.wait_for_selector("#explain-rows", timeout=15_000)


OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`page is ${document.documentElement.scrollWidth} px wide in ${width}`);
  }
  for (const node of document.querySelectorAll(".card, .rows, td, th")) {
    if (node.closest("[hidden]") || node.parentElement.closest(".rows")) continue;
    if (getComputedStyle(node).textOverflow === "ellipsis") continue;  // cut, whole in its title
    if (node.scrollWidth > node.clientWidth + 1) {
      found.push(`${node.tagName}#${node.id}.${node.className}: ${node.scrollWidth}`
        + ` > ${node.clientWidth} (${node.textContent.trim().slice(0, 40)})`);
    }
  }
  for (const box of document.querySelectorAll("#diagram g")) {
    const rect = box.querySelector("rect").getBBox();
    for (const text of box.querySelectorAll("text")) {
      const b = text.getBBox();
      if (b.x + b.width > rect.x + rect.width + 1) {
        found.push(`diagram: "${text.textContent}" spills out of its box`);
      }
    }
  }
  return found;
}"""


@pytest.mark.parametrize("width", [1024, 1400])
def test_nothing_overflows_at_1024_and_1400_px(
    browser: Any, dashboard: Dashboard, width: int, tmp_path: Path
) -> None:
    with dashboard.client() as client:
        shipments = client.get("/dashboard/api/shipments", params={"limit": 500}).json()
    chosen = max(shipments["shipments"], key=lambda row: row["event_count"])
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = Page(context.new_page(), dashboard)
    try:
        page.open("read")
        wait_for_status_figures(page, dashboard.settled())
        overflowing = {"pipeline": page.tab.evaluate(OVERFLOWING)}
        page.tab.screenshot(path=str(tmp_path / f"pipeline-{width}.png"), full_page=True)
        page.tab.click("button[data-tab=shipments]")
        page.tab.fill("#ship-q", chosen["shipment_id"])
        page.tab.click("#ship-search")
        page.tab.wait_for_selector("#timeline-chart rect.span")
        overflowing["shipments"] = page.tab.evaluate(OVERFLOWING)
        page.tab.screenshot(path=str(tmp_path / f"shipments-{width}.png"), full_page=True)
        page.tab.click("button[data-tab=metrics]")
        page.tab.wait_for_selector("#alerts-table tbody tr td >> nth=0")
        overflowing["metrics"] = page.tab.evaluate(OVERFLOWING)
        page.tab.click("button[data-tab=performance]")
        page.tab.wait_for_selector("#kpi-table tbody tr[data-group]")
        overflowing["performance"] = page.tab.evaluate(OVERFLOWING)
        page.tab.screenshot(path=str(tmp_path / f"performance-{width}.png"), full_page=True)
        explain_late_event(page, chosen["shipment_id"], 2)
        overflowing["explain"] = page.tab.evaluate(OVERFLOWING)
        page.tab.screenshot(path=str(tmp_path / f"explain-{width}.png"), full_page=True)
    finally:
        context.close()
    assert {tab: found for tab, found in overflowing.items() if found} == {}
    assert page.errors == []


def test_an_empty_store_shows_empty_states(browser: Any, empty_dashboard: Dashboard) -> None:
    with opened_tab(browser, empty_dashboard) as page:
        page.open()
        wait_for_status_figures(page, empty_dashboard.status())
        assert "No runs yet" in page.tab.inner_text("#runs-table")
        assert "No open dead letters" in page.tab.inner_text("#dead-table")
        assert "No files loaded" in page.tab.inner_text("#loads-table")
        page.tab.click("button[data-tab=metrics]")
        page.tab.wait_for_selector("#chart-throughput .chart-empty")
        page.tab.click("button[data-tab=shipments]")
        page.tab.wait_for_selector("#ship-table td.empty")
        page.tab.click("button[data-tab=explain]")
        page.tab.fill("#explain-id", "NOTHING-HERE")
        page.tab.click("#explain-load")
        page.tab.wait_for_selector("#explain-result .error")
        # the refused lookup (HTTP 404) is logged by Chromium itself
        assert all("404" in error for error in page.errors)
        page.errors.clear()


def test_an_open_shipment_shows_its_predicted_delivery_ahead_of_the_last_event(
    page: Page, dashboard: Dashboard
) -> None:
    with dashboard.client() as client:
        shipments = client.get("/dashboard/api/shipments", params={"limit": 500}).json()
        chosen = next(
            row
            for row in shipments["shipments"]
            if row["current_status"] == "in_transit"
            and client.get(f"/dashboard/api/shipments/{row['shipment_id']}").json()["summary"][
                "prediction"
            ]
        )
    page.open()
    page.tab.click("button[data-tab=shipments]")
    page.tab.fill("#ship-q", chosen["shipment_id"])
    page.tab.click("#ship-search")
    page.tab.wait_for_selector("#timeline-chart rect.predicted")
    band = page.tab.locator("#timeline-chart rect.predicted")
    last_span = page.tab.locator("#timeline-chart rect.span").last
    assert float(band.get_attribute("x") or 0) >= float(last_span.get_attribute("x") or 0)
    assert "predicted delivery" in (band.text_content() or "")
    assert "predicted" in page.tab.inner_text("#ship-detail .summary")


def test_the_performance_tab_shows_kpis_by_carrier_and_by_lane(
    page: Page, dashboard: Dashboard
) -> None:
    with dashboard.client() as client:
        expected = client.get("/dashboard/api/performance", params={"by": "lane"}).json()
    page.open()
    page.tab.click("button[data-tab=performance]")
    page.tab.wait_for_selector("#kpi-table tbody tr[data-group]")
    page.tab.select_option("#kpi-by", "lane")
    page.tab.wait_for_function(
        "n => document.querySelectorAll('#kpi-table tbody tr[data-group]').length === n",
        arg=len(expected["kpis"]["groups"]),
    )
    assert "Lane" in page.tab.inner_text("#kpi-group")
    shipments = page.tab.get_attribute("#kpi-shipments", "data-value")
    assert shipments == f"{expected['overall'][0]['shipments']:,}"
    assert page.tab.evaluate(OVERFLOWING) == []
