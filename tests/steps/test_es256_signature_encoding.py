"""ES256 signatures as ``cryptography`` verifies them: the DER of a JWS's r||s.

``der_signature`` builds the common case from a precomputed frame instead of making two
integers; it must give exactly ``encode_dss_signature``'s bytes for every r and s (a wrong
length byte or a missing 0x00 would make a valid token fail, or worse, read another number).
"""

from __future__ import annotations

import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from steps.core.signing_keys import (
    PublicKey,
    SigningKey,
    der_signature,
    generate_signing_key,
    parse_key_set,
    parse_public_jwks,
    public_jwks,
)

PART = 32


def _reference(raw: bytes) -> bytes:
    r, s = int.from_bytes(raw[:PART], "big"), int.from_bytes(raw[PART:], "big")
    return encode_dss_signature(r, s)


# Each half on its own: the first byte's high bit set or not, leading zero bytes (one, several,
# all but the last), all zero, all ones, and the values around each boundary.
HALVES = [
    bytes([0x80]) + bytes(31),
    bytes([0x7F]) + bytes(31),
    bytes([0x01]) + bytes(31),
    bytes([0xFF]) * 32,
    bytes(32),
    bytes(31) + b"\x01",
    bytes(31) + b"\x80",
    bytes(31) + b"\xff",
    b"\x00\x80" + bytes(30),
    b"\x00\x7f" + bytes(30),
    b"\x00\x00\x01" + bytes(29),
    b"\x00\x00\x80" + bytes(29),
    bytes(16) + bytes([0xAB]) * 16,
    bytes([0x7F]) + bytes([0xFF]) * 31,
]


@pytest.mark.parametrize("r", HALVES)
@pytest.mark.parametrize("s", HALVES)
def test_edge_values_match_encode_dss_signature(r: bytes, s: bytes) -> None:
    assert der_signature(r + s) == _reference(r + s)


def test_random_values_match_encode_dss_signature() -> None:
    rng = random.Random(17)  # noqa: S311 - test data, not a secret
    for _ in range(20_000):
        raw = rng.randbytes(64)
        if rng.random() < 0.2:  # leading zero bytes are rare at random: make them common
            cut = rng.randrange(1, 5)
            raw = (
                bytes(cut) + raw[cut:]
                if rng.random() < 0.5
                else raw[:PART] + bytes(cut) + raw[PART + cut :]
            )
        assert der_signature(raw) == _reference(raw), raw.hex()


def _keys() -> tuple[SigningKey, PublicKey]:
    jwk = generate_signing_key("k-1", algorithm="ES256")
    key_set = parse_key_set(json.dumps({"keys": [jwk], "active_kid": "k-1"}))
    (public,) = parse_public_jwks(public_jwks(key_set)).keys
    return key_set.active, public


def _shape(first: int) -> str:
    return "zero" if first == 0 else "high" if first & 0x80 else "low"


def test_real_signatures_of_every_shape_verify() -> None:
    """r or s starting with a zero byte (about 1 in 128 each), with the high bit set or not:
    each shape verifies its message, and neither another message nor a changed signature."""
    signing, public = _keys()
    wanted = {(half, shape) for half in "rs" for shape in ("zero", "high", "low")}
    for n in range(50_000):
        message = f"header.payload-{n}".encode()
        raw = signing.sign(message)
        shapes = {("r", _shape(raw[0])), ("s", _shape(raw[PART]))}
        if not shapes & wanted:
            continue
        wanted -= shapes
        assert public.verify(message, raw)
        assert not public.verify(message + b"x", raw)
        for flipped in (0, PART - 1, PART, 2 * PART - 1):
            tampered = bytearray(raw)
            tampered[flipped] ^= 1
            assert not public.verify(message, bytes(tampered))
        if not wanted:
            break
    assert not wanted


@pytest.mark.parametrize("length", [0, 1, 63, 65, 128])
def test_a_signature_of_another_length_never_verifies(length: int) -> None:
    _, public = _keys()
    assert not public.verify(b"header.payload", bytes([0x80]) * length)
