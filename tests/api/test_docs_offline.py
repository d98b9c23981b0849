"""``/docs`` works without the internet: Swagger UI comes from the server itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.api.conftest import Running


def test_the_docs_page_loads_only_assets_of_its_own_origin(server: Running) -> None:
    with server.client(None) as anyone:
        page = anyone.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls, page.text
        assert [url for url in urls if urlsplit(url).netloc] == []
        assert "cdn" not in page.headers["content-security-policy"]

        for url in urls:
            asset = anyone.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url
        script = anyone.get("/docs/assets/swagger-ui-bundle.js")
        assert "javascript" in script.headers["content-type"]
        assert "SwaggerUIBundle" in script.text
        assert "text/css" in anyone.get("/docs/assets/swagger-ui.css").headers["content-type"]


def test_a_file_outside_the_docs_assets_is_not_served(server: Running) -> None:
    with server.client(None) as anyone:
        assert anyone.get("/docs/assets/../../settings.py").status_code == 404
        assert anyone.get("/docs/assets/nothing.js").status_code == 404
