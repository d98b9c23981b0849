"""``/docs`` in a real headless Chromium with every other origin cut off: Swagger UI
renders the API from the server's own files alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Running, api_settings, serve
from tests.e2e.test_dashboard_browser import CHROMIUM, browser

__all__ = ["browser"]  # the module's Chromium, shared with the dashboard's tests

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("docs")
    yield from serve(api_settings(str(folder / "shipline.duckdb"), Path(folder)))


def test_swagger_ui_renders_with_no_other_origin_reachable(browser: Any, running: Running) -> None:
    context = browser.new_context()
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_this_origin(route: Any) -> None:
        if route.request.url.startswith(running.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_origin)
    tab = context.new_page()
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(running.url + "/docs")
    tab.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    tab.wait_for_selector('[data-path="/v1/events"]', timeout=30_000)
    title = tab.inner_text(".swagger-ui .info .title")
    context.close()

    assert title.startswith("shipline")
    assert elsewhere == []
    assert errors == []
