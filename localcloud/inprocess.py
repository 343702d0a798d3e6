"""AWS calls made inside the local cloud's process are answered in-process, not over HTTP.

Handlers, Task states, the gateway and the stream poller all run in the process that hosts moto,
yet each of their calls used to leave through a socket to moto's server on loopback: a new TCP
connection per call (werkzeug answers ``Connection: close``), a server thread, and about 4 ms of
parsing and dispatch. Here a botocore ``before-send`` handler answers a request addressed to the
local cloud's endpoint by calling moto's own WSGI dispatcher (the application its server runs) on
the caller's thread, and hands botocore the response. Everything before the send still happens:
parameter validation, serialization, signing, and every ``before-call`` hook (fault injection,
per-principal checks), so a call behaves as it did over HTTP. Clients outside the process still
reach moto's server on its port.

The handler is installed in botocore's built-in handlers, so every client created in this process
afterwards has it; it answers only for the endpoints registered by a running local cloud and lets
every other request go out as usual.
"""

from __future__ import annotations

import threading
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

_endpoints: dict[str, Any] = {}  # "host:port" → moto's WSGI application
_endpoints_lock = threading.Lock()
_installed = False


class _RawBody(BytesIO):
    """The raw response botocore reads: ``stream()`` as urllib3's response offers it."""

    def stream(self, **_kwargs: Any) -> Any:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _body(body: Any) -> bytes:
    if body is None:
        return b""
    if hasattr(body, "read"):
        position = body.tell() if hasattr(body, "tell") else None
        data = body.read()
        if position is not None and hasattr(body, "seek"):
            body.seek(position)  # botocore may retry with the same body
        body = data
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def answer(app: Any, request: Any) -> Any:
    """moto's answer to a botocore ``AWSPreparedRequest``, as a botocore ``AWSResponse``."""
    from botocore.awsrequest import AWSResponse
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    url = urlsplit(request.url)
    headers = [(_text(name), _text(value)) for name, value in request.headers.items()]
    builder = EnvironBuilder(
        method=request.method,
        base_url=f"{url.scheme}://{url.netloc}",
        path=url.path or "/",
        query_string=url.query,
        headers=headers,
        data=_body(request.body),
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    app_iter, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    status_code = int(str(status).split(" ", 1)[0])
    return AWSResponse(request.url, status_code, dict(response_headers), _RawBody(content))


def before_send(request: Any, **_kwargs: Any) -> Any:
    """botocore's ``before-send`` event: answer in-process for a registered endpoint."""
    app = _endpoints.get(urlsplit(request.url).netloc)
    if app is None:
        return None  # not the local cloud: the request goes out over the network
    return answer(app, request)


def install() -> None:
    """Add the handler to botocore's built-in handlers (clients created from now on get it)."""
    global _installed
    with _endpoints_lock:
        if _installed:
            return
        from botocore.handlers import BUILTIN_HANDLERS

        BUILTIN_HANDLERS.append(("before-send", before_send))
        _installed = True


def serve_in_process(host: str, port: int) -> None:
    """Answer in-process every call this process makes to ``host:port`` (and its aliases)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    install()
    app = DomainDispatcherApplication(create_backend_app)
    aliases = {host, "127.0.0.1", "localhost"} if host in ("127.0.0.1", "localhost") else {host}
    with _endpoints_lock:
        for name in aliases:
            _endpoints[f"{name}:{port}"] = app


def stop_serving(port: int) -> None:
    with _endpoints_lock:
        for netloc in [n for n in _endpoints if n.rsplit(":", 1)[-1] == str(port)]:
            del _endpoints[netloc]


def serves(netloc: str) -> bool:
    return netloc in _endpoints
