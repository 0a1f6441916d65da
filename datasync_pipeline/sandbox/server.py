"""Serving a sandbox over real HTTP: in a daemon thread for tests and the demo, or in the foreground for the CLI."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

from werkzeug.serving import LISTEN_QUEUE, BaseWSGIServer, WSGIRequestHandler, make_server

from datasync_pipeline.sandbox.sandbox import Sandbox


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log, which would drown test output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ServedSandbox:
    """A sandbox being served: where to reach it (``url``, ``port``, ``token``) and how to stop it."""

    def __init__(self, sandbox: Sandbox, server: BaseWSGIServer, thread: threading.Thread) -> None:
        self.sandbox = sandbox
        self._server = server
        self._thread = thread
        self.host = server.host
        self.port = server.port
        self.url = f"http://{self.host}:{self.port}"

    @property
    def token(self) -> str:
        return self.sandbox.settings.token

    @property
    def control_token(self) -> str:
        """What the ``X-Sandbox-Control-Token`` header of a ``/_sandbox/`` request must hold."""
        return self.sandbox.settings.control_token

    def shutdown(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> ServedSandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.shutdown()


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening; raises ``OSError`` (``errno.EADDRINUSE``: port taken).

    Binding comes first so a caller can refuse a busy port before announcing anything. (Werkzeug's
    ``make_server`` would print the error and exit the process itself.)
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(LISTEN_QUEUE)
    except BaseException:
        listener.close()
        raise
    return listener


def _server_on(sandbox: Sandbox, listener: socket.socket, **options) -> BaseWSGIServer:
    host, port = listener.getsockname()[:2]
    try:
        return make_server(host, port, sandbox.wsgi_app, threaded=True, fd=listener.fileno(), **options)
    finally:
        listener.close()  # the server holds its own copy of the descriptor


def serve_in_thread(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> ServedSandbox:
    """Serve on ``host:port`` (0 picks a free port) from a daemon thread, one thread per request."""
    server = _server_on(sandbox, listen(host, port), request_handler=QuietRequestHandler)
    # A short poll interval makes shutdown quick: tests start and stop a server each.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"hubspot-sandbox-{server.port}", daemon=True
    )
    thread.start()
    return ServedSandbox(sandbox, server, thread)


def serve_forever(sandbox: Sandbox, listener: socket.socket) -> None:
    """Serve on a socket from ``listen`` in the foreground until interrupted (``datasync sandbox serve``)."""
    server = _server_on(sandbox, listener)
    try:
        server.serve_forever()
    finally:
        server.server_close()
