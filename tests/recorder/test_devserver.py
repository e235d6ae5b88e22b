"""The embedded dev server starts even when a port it picked is taken before the server binds it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from recorder.devserver import DevServer


@pytest.mark.devserver
async def test_a_port_taken_between_pick_and_bind_is_replaced_by_a_free_one(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = int(taken.getsockname()[1])
        server = DevServer(log_file=tmp_path / "devserver.log")
        server.port = taken_port  # as if another process took the picked port before the server bound it
        await server.start()
        try:
            assert server.port != taken_port
            assert await server._healthy()
            assert "address already in use" in (tmp_path / "devserver.log").read_text()
        finally:
            await server.stop()


@pytest.mark.devserver
async def test_a_port_given_by_the_caller_is_kept_and_the_failure_says_why(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = int(taken.getsockname()[1])
        server = DevServer(port=taken_port, log_file=tmp_path / "devserver.log")
        with pytest.raises(RuntimeError, match="exited with code"):
            await server.start()
        assert server.port == taken_port
