"""The ledger service for tests: the real app under uvicorn, in a thread of the test
process, on a free port, serving the test database (`db_url`)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from outreach.service.app import create_app, server_options


class Running:
    """One service: its base URL and the app (``app.state.ledger`` holds its engine)."""

    def __init__(self, url: str, trusted_proxies: list[str] | None = None) -> None:
        self.app = create_app(url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", log_config=None,
                                access_log=False, lifespan="off",
                                **server_options(trusted_proxies))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the ledger service did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.app.state.ledger.engine.dispose()


@pytest.fixture
def serve():
    """``serve(url)`` starts a service on that database; all are stopped at teardown."""
    started: list[Running] = []

    def start(url: str, trusted_proxies: list[str] | None = None) -> Running:
        started.append(Running(url, trusted_proxies))
        return started[-1]

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def world(db_url, tmp_path):
    """The access suite's small world (tests/reliability/test_access.py `build_world`):
    Ann (coordinator), Bob and Cat (volunteers), eight members with distinct contact
    details, one survey task each; one task open and nobody's."""
    from tests.reliability.test_access import build_world

    return build_world(db_url, tmp_path)
