"""Security headers on every response, and the policies of the two HTML pages.

The dashboard loads only its own script and stylesheet; the API docs load Swagger
UI from the server itself and run one inline script, allowed by its hash. Every other
response (JSON, assets) may load nothing and be framed nowhere.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The Content-Security-Policy of responses that are not a page."""

HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")


def sha256_source(text: str) -> str:
    """A CSP hash source (``'sha256-...'``) allowing exactly ``text``."""
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
    return f"'sha256-{digest}'"


def dashboard_policy(html: str) -> str:
    """The dashboard's policy: its own files and API only; its few style attributes by hash."""
    styles = sorted({sha256_source(value) for value in re.findall(r'style="([^"]*)"', html)})
    style_attrs = f" 'unsafe-hashes' {' '.join(styles)}" if styles else ""
    return (
        "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:;"
        f" style-src 'self'{style_attrs}; frame-ancestors 'none'; base-uri 'none';"
        " form-action 'none'"
    )


def docs_policy(html: str) -> str:
    """The API docs' policy: Swagger UI from this origin, its inline scripts by hash."""
    scripts = " ".join(
        sha256_source(body) for body in re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    )
    return (
        f"default-src 'none'; script-src 'self' {scripts};"
        " style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


class SecurityHeaders:
    """Pure ASGI middleware: nosniff, no framing, no referrer, a default CSP, and HSTS
    over HTTPS; a response that sets its own policy keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {bytes(name).lower() for name, _ in headers}
                headers += [h for h in HEADERS if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", DEFAULT_POLICY.encode()))
                if https:
                    headers.append(HSTS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
