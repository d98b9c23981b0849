"""``AnnouncedServer``: uvicorn's server, announcing itself beside its DuckDB file."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from shipline.server.discovery import (
    WILDCARDS,
    ServerFile,
    local_credential,
    remove_server_file,
    server_file_path,
    write_server_file,
)


class AnnouncedServer(uvicorn.Server):
    """uvicorn's server, which writes the server file once it listens and removes it
    before it stops listening."""

    def __init__(self, config: uvicorn.Config, path: Path, token: str, key_id: str) -> None:
        super().__init__(config)
        self.path = path
        self.token = token
        self.key_id = key_id

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        config = self.config
        write_server_file(
            self.path,
            ServerFile(
                host=WILDCARDS.get(config.host, config.host),
                port=self._bound_port(),
                scheme="https" if config.ssl_certfile else "http",
                token=self.token,
                key_id=self.key_id,
                pid=os.getpid(),
                tls_cert=str(Path(str(config.ssl_certfile)).resolve())
                if config.ssl_certfile
                else None,
                started_at=datetime.now(UTC).isoformat(),
            ),
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        remove_server_file(self.path, self.token)
        await super().shutdown(sockets)

    def _bound_port(self) -> int:
        """The port listened on (the one the system chose for port 0)."""
        for server in getattr(self, "servers", []):
            for listening in server.sockets or []:
                return int(listening.getsockname()[1])
        return int(self.config.port)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets)
        finally:
            remove_server_file(self.path, self.token)  # however it stopped


def announced_server(app: Any, config: uvicorn.Config, database: str) -> uvicorn.Server:
    """The uvicorn server for ``app``; over a DuckDB file, one that announces itself
    and admits its own user with a fresh local credential."""
    path = server_file_path(database)
    if path is None:
        return uvicorn.Server(config)
    token, key = local_credential()
    app.state.services.keys.add_local(token, key)
    return AnnouncedServer(config, path, token, key.key_id)
