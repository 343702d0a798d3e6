"""`stepauth local --host 0.0.0.0` shares the API, never the unauthenticated local AWS endpoint
(it holds the private signing keys): that one stays on loopback unless asked for separately."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloudSettings, free_port, is_loopback
from stepauth.cli import aws_endpoint_exposure_warning, build_parser

ROOT = Path(__file__).resolve().parent.parent


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a listening socket on ``port`` is bound to (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, state = fields[1], fields[3]
        host_hex, port_hex = address.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            raw = bytes.fromhex(host_hex)[::-1]  # little-endian on the machines we run on
            found.add(socket.inet_ntoa(raw))
    return found


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")  # noqa: S104


def test_exposing_the_aws_endpoint_prints_a_warning() -> None:
    assert aws_endpoint_exposure_warning("127.0.0.1") is None
    warning = aws_endpoint_exposure_warning("0.0.0.0")  # noqa: S104
    assert warning and warning.startswith("WARNING") and "signing keys" in warning


def test_aws_host_comes_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_HOST", "0.0.0.0")  # noqa: S104
    assert build_parser().parse_args(["local"]).aws_host == "0.0.0.0"  # noqa: S104


def test_the_aws_endpoint_defaults_to_loopback_whatever_the_api_host() -> None:
    args = build_parser().parse_args(["local", "--host", "0.0.0.0"])  # noqa: S104
    assert args.aws_host == "127.0.0.1"
    settings = LocalCloudSettings(host="0.0.0.0")  # noqa: S104
    assert settings.aws_host == "127.0.0.1"
    assert settings.aws_endpoint.startswith("http://127.0.0.1:")
    explicit = build_parser().parse_args(["local", "--aws-host", "0.0.0.0"])  # noqa: S104
    assert explicit.aws_host == "0.0.0.0"  # noqa: S104


@pytest.mark.cloud  # `make dev` starts a whole local cloud
def test_make_dev_on_every_interface_keeps_the_aws_endpoint_on_loopback(tmp_path: Path) -> None:
    api_port, aws_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_HOST", "AWS_ENDPOINT_URL")}
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "stepauth.cli",
            "local",
            "--host",
            "0.0.0.0",  # noqa: S104
            "--port",
            str(api_port),
            "--aws-port",
            str(aws_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Ctrl-C to stop"):
                break
        else:
            pytest.fail(f"stepauth local did not start: {process.stderr.read()}")  # type: ignore[union-attr]
        assert listening_addresses(api_port) == {"0.0.0.0"}  # noqa: S104
        assert listening_addresses(aws_port) == {"127.0.0.1"}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            stderr = ""
    assert "WARNING" not in stderr
