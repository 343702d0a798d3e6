"""The local HTTP server as a front door, tested with raw sockets: malformed framing, clients
that give up, slow clients, long paths, huge headers and many connections at once are each
answered in the contract's shape (JSON, request id header) or dropped, and never executed."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud.cloud import LocalCloud, free_port
from localcloud.gateway import (
    MAX_HEADER_BYTES,
    MAX_URL_BYTES,
    LocalGatewayServer,
    make_server,
    serve,
)
from steps.core.contract.errors import CLIENT_ERRORS
from tests.test_api import Api, new_email


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def read_answer(sock: socket.socket) -> RawAnswer | None:
    """One HTTP response from the socket; None when the server closed without answering."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return RawAnswer(int(status_line.split(" ")[1]), headers, rest[:length])


def exchange(port: int, request: bytes, *, timeout: float = 30) -> RawAnswer | None:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_answer(sock)


def assert_contract_error(answer: RawAnswer | None, status: int) -> None:
    assert answer is not None, "the server closed the connection without an answer"
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers.get("x-amzn-requestid")
    document = answer.json()
    assert set(document) == {"error", "error_description"}
    assert b"<html" not in answer.body.lower()
    # the contract's answer for this status, word for word (steps/core/contract/errors.py)
    assert any(
        (spec.status, spec.code, spec.description)
        == (status, document["error"], document["error_description"])
        for spec in CLIENT_ERRORS.values()
    ), document


@pytest.fixture(scope="module")
def port(local_cloud: LocalCloud) -> int:
    return local_cloud.settings.gateway_port


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


def signed_up(api: Api) -> tuple[str, str]:
    email = new_email()
    answer = api.register(email)
    assert answer.status == 201, answer.body
    return email, answer.json()["access_token"]


def delete_me_head(token: str, framing: str) -> bytes:
    return (
        f"DELETE /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n"
    ).encode()


# -- chunked bodies and clients that give up ---------------------------------------------------


@pytest.mark.parametrize(
    "chunks",
    [
        b"-1\r\n{}\r\n0\r\n\r\n",
        b"0x2\r\n{}\r\n0\r\n\r\n",
        b"zz\r\n{}\r\n0\r\n\r\n",
        b"2\r\n{}XX0\r\n\r\n",  # no CRLF after the chunk data
        b" 2\r\n{}\r\n0\r\n\r\n",
    ],
)
def test_malformed_chunked_bodies_are_400(port: int, chunks: bytes) -> None:
    request = (
        b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks
    )
    assert_contract_error(exchange(port, request), 400)


def test_a_well_formed_chunked_body_reaches_the_workflow(port: int) -> None:
    body = json.dumps({"email": new_email(), "password": "not the password at all"}).encode()
    request = (
        b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(body[:10]):x};ext=1\r\n".encode()
        + body[:10]
        + b"\r\n"
        + f"{len(body[10:]):X}\r\n".encode()
        + body[10:]
        + b"\r\n0\r\nX-Trailer: y\r\n\r\n"
    )
    answer = exchange(port, request)
    assert answer is not None and answer.status == 401, answer  # reached the login workflow


def test_content_length_and_chunked_together_is_400(port: int) -> None:
    request = (
        b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    assert_contract_error(exchange(port, request), 400)


@pytest.mark.parametrize("length", [b"-1", b"+2", b"0x2", b"2, 2", b" "])
def test_malformed_content_lengths_are_400(port: int, length: bytes) -> None:
    request = (
        b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length + b"\r\n\r\n{}"
    )
    assert_contract_error(exchange(port, request), 400)


def test_delete_me_with_a_bad_chunk_deletes_nothing(port: int, api: Api) -> None:
    email, token = signed_up(api)
    request = delete_me_head(token, "Transfer-Encoding: chunked\r\n") + b"-1\r\n"
    assert_contract_error(exchange(port, request), 400)
    assert api.login(email).status == 200  # the account is still there


@pytest.mark.parametrize(
    "framing, partial_body",
    [
        ("Content-Length: 100\r\n", b"{}"),  # fewer bytes than announced
        ("Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n"),  # no last chunk
        ("Transfer-Encoding: chunked\r\n", b"10\r\n{}"),  # a chunk cut short
    ],
)
def test_a_request_whose_client_gave_up_is_never_executed(
    port: int, api: Api, framing: str, partial_body: bytes
) -> None:
    email, token = signed_up(api)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(delete_me_head(token, framing) + partial_body)
        sock.shutdown(socket.SHUT_WR)  # the client is done sending: the body stays incomplete
        assert read_answer(sock) is None  # dropped: nobody to answer, nothing executed
    assert api.login(email).status == 200  # the account is still there


# -- timeouts, sizes, malformed requests -------------------------------------------------------


@pytest.fixture(scope="module")
def impatient_port(local_cloud: LocalCloud) -> Iterator[int]:
    """A second server on the same gateway with a short read timeout."""
    server = serve(local_cloud.gateway, "127.0.0.1", free_port(), read_timeout_seconds=0.3)
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_request_that_stops_arriving_gets_408_and_is_not_executed(
    impatient_port: int, api: Api
) -> None:
    email, token = signed_up(api)
    with socket.create_connection(("127.0.0.1", impatient_port), timeout=30) as sock:
        sock.sendall(delete_me_head(token, "Content-Length: 10\r\n") + b"{")
        assert_contract_error(read_answer(sock), 408)
    assert api.login(email).status == 200


def test_headers_that_stop_arriving_get_408(impatient_port: int) -> None:
    with socket.create_connection(("127.0.0.1", impatient_port), timeout=30) as sock:
        sock.sendall(b"GET /v1/me HTTP/1.1\r\nHost: x\r\n")
        assert_contract_error(read_answer(sock), 408)


def test_a_path_over_the_limit_is_414(port: int) -> None:
    path = "/v1/" + "a" * MAX_URL_BYTES
    assert_contract_error(exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()), 414)


def test_a_request_line_over_the_header_budget_is_414(port: int) -> None:
    path = "/v1/" + "a" * (MAX_HEADER_BYTES * 3)
    assert_contract_error(exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()), 414)


def test_a_20_kb_bearer_token_is_431(port: int) -> None:
    token = "a" * 20_000
    request = f"GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    assert_contract_error(exchange(port, request.encode()), 431)


def test_many_headers_over_the_total_are_431(port: int) -> None:
    headers = "".join(f"X-Filler-{i}: {'b' * 100}\r\n" for i in range(120))  # ~14 KB
    request = f"GET /v1/me HTTP/1.1\r\nHost: x\r\n{headers}\r\n"
    assert_contract_error(exchange(port, request.encode()), 431)


def test_headers_just_under_the_limit_are_served(port: int) -> None:
    request_line = "GET /.well-known/jwks.json HTTP/1.1\r\n"
    head = request_line + "Host: x\r\nX-Filler: "
    filler = "c" * (MAX_HEADER_BYTES - len(head) - len("\r\n\r\n"))
    answer = exchange(port, (head + filler + "\r\n\r\n").encode())
    assert answer is not None and answer.status == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/me HTTP/2.0\r\nHost: x\r\n\r\n",
        b"GET v1/me HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/me HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET /v1/me HTTP/1.1\r\nHost: x\r\n folded: line\r\n\r\n",
    ],
)
def test_malformed_requests_are_json_400_never_html(port: int, request_bytes: bytes) -> None:
    assert_contract_error(exchange(port, request_bytes), 400)


def test_an_unusual_method_reaches_the_gateway(port: int) -> None:
    answer = exchange(port, b"PROPFIND /v1/me HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_contract_error(answer, 404)


def test_keep_alive_serves_several_requests_on_one_connection(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for _ in range(3):
            sock.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_answer(sock)
            assert answer is not None and answer.status == 200


class CountingSocket(socket.socket):
    """A served connection that counts the writes made to it."""

    writes = 0

    def send(self, data: Any, flags: int = 0) -> int:
        type(self).writes += 1
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        type(self).writes += 1
        super().sendall(data, flags)


def test_each_response_leaves_in_one_write_with_nagle_off(local_cloud: LocalCloud) -> None:
    """A response's head and body go out in one write, on a connection with Nagle off: a body
    written after its head waited for the client's delayed ACK, about 40 ms on every response
    of a kept-alive connection (the latency itself is in ``make bench``)."""
    server = make_server(local_cloud.gateway, "127.0.0.1", free_port())
    served: list[socket.socket] = []
    accept = server.get_request

    def get_request() -> tuple[socket.socket, Any]:
        sock, address = accept()
        counted = CountingSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        served.append(counted)
        return counted, address

    server.get_request = get_request  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=30) as sock:
            for _ in range(3):
                sock.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = read_answer(sock)
                assert answer is not None and answer.status == 200 and answer.body
            assert len(served) == 1
            assert served[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert CountingSocket.writes == 3
    finally:
        server.shutdown()
        server.server_close()


def test_expect_100_continue_is_honoured(port: int) -> None:
    body = json.dumps({"email": new_email(), "password": "whatever it is here"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        interim = read_answer(sock)
        assert interim is not None and interim.status == 100
        sock.sendall(body)
        final = read_answer(sock)
        assert final is not None and final.status == 401


# -- many clients at once ----------------------------------------------------------------------


def test_fifty_connections_made_before_the_server_accepts_are_all_answered(
    local_cloud: LocalCloud,
) -> None:
    """Every connect completes while the server is not accepting yet (the listen backlog holds
    them: Python's default of 5 would leave 45 hanging), and each is then answered."""
    server = make_server(local_cloud.gateway, "127.0.0.1", free_port())
    assert isinstance(server, LocalGatewayServer)
    port = server.server_address[1]
    sockets = []
    try:
        for _ in range(50):
            # A connect beyond the backlog is not completed by the kernel: it times out here.
            sock = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            sock.settimeout(30)
            sockets.append(sock)
        for sock in sockets:
            sock.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        statuses = [getattr(read_answer(sock), "status", None) for sock in sockets]
        assert statuses == [200] * 50
    finally:
        for sock in sockets:
            sock.close()
        server.shutdown()
        server.server_close()


def test_fifty_concurrent_clients_are_all_answered(port: int) -> None:
    statuses: list[int | None] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def client() -> None:
        start.wait()
        answer = exchange(port, b"GET /no/such/route HTTP/1.1\r\nHost: x\r\n\r\n")
        with lock:
            statuses.append(answer.status if answer else None)

    threads = [threading.Thread(target=client) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [404] * 50
