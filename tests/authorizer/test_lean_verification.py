"""The authorizer's verification path (``authorizer.check.verified_claims``), for both algorithms.

The token is split once, each segment decoded once (the header once per key: a cache by its
segment), and the signature checked with ``cryptography``. Each rejection is checked here on
that path for ES256 and Ed25519 alike, and the header cache is checked never to let a token
through that the uncached path would refuse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from types import SimpleNamespace
from typing import Any

import pytest

from authorizer import check
from authorizer.bearer import MAX_TOKEN_BYTES, Rejected
from authorizer.keys import PublicKeyCache
from steps.core.clock import ManualClock
from steps.core.signing_keys import (
    PublicKey,
    b64url_decode,
    generate_signing_key,
    json_segment,
    parse_key_set,
    parse_public_jwks,
    public_jwks,
    sign_compact,
)

NOW = 1_800_000_000
ISSUER = "https://auth.example"
AUDIENCE = "stepauth-api"
ALGORITHMS = ("ES256", "Ed25519")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u-1",
        "iat": NOW,
        "exp": NOW + 900,
        "jti": "f" * 32,
        "roles": ["user"],
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


class Verifier:
    """One key of ``algorithm`` and the authorizer's verification with it."""

    def __init__(self, algorithm: str, kid: str = "k-1") -> None:
        jwk = generate_signing_key(kid, algorithm=algorithm)
        self.key_set = parse_key_set(json.dumps({"keys": [jwk], "active_kid": kid}))
        self.keys = PublicKeyCache(
            lambda: parse_public_jwks(public_jwks(self.key_set)), clock=ManualClock(NOW)
        )
        self.config = SimpleNamespace(token_issuer=ISSUER, accepted_audiences={AUDIENCE})

    def token(self, claims: dict[str, Any] | None = None, **header: Any) -> str:
        return sign_compact({"typ": "at+jwt", **header}, claims or _claims(), self.key_set.active)

    def __call__(self, token: str) -> dict[str, Any]:
        return check.verified_claims(
            f"Bearer {token}",
            keys=self.keys,
            clock=ManualClock(NOW),
            config=self.config,  # type: ignore[arg-type]
        )

    def refused(self, token: str) -> str:
        with pytest.raises(Rejected) as info:
            self(token)
        return info.value.reason


@pytest.fixture(params=ALGORITHMS)
def verifier(request: pytest.FixtureRequest) -> Verifier:
    check._HEADERS.clear()
    return Verifier(request.param)


def _with_header(token: str, header: dict[str, Any]) -> str:
    _, payload, signature = token.split(".")
    return f"{_b64(json.dumps(header).encode())}.{payload}.{signature}"


def test_a_valid_token_gives_its_claims(verifier: Verifier) -> None:
    assert verifier(verifier.token()) == _claims()
    assert verifier(verifier.token()) == _claims()  # again, with its header from the cache


def test_a_tampered_signature_is_refused(verifier: Verifier) -> None:
    header, payload, signature = verifier.token().split(".")
    raw = bytearray(b64url_decode(signature))
    raw[len(raw) // 2] ^= 0x01
    assert verifier.refused(f"{header}.{payload}.{_b64(bytes(raw))}") == "bad_signature"
    assert verifier.refused(f"{header}.{payload}.{_b64(bytes(raw[:-1]))}") == "bad_signature"


def test_a_tampered_payload_is_refused(verifier: Verifier) -> None:
    header, _, signature = verifier.token().split(".")
    evil = _b64(json.dumps(_claims(roles=["user", "admin"])).encode())
    assert verifier.refused(f"{header}.{evil}.{signature}") == "bad_signature"


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256", "Ed25519", "EdDSA", None])
def test_the_header_must_name_the_keys_own_algorithm(verifier: Verifier, alg: str | None) -> None:
    key = verifier.key_set.active
    if alg == key.alg:
        return
    token = verifier.token()
    header = {"typ": "at+jwt", "kid": key.kid, **({"alg": alg} if alg else {})}
    assert verifier.refused(_with_header(token, header)) == "bad_header"


def test_hs256_made_with_the_public_key_is_refused(verifier: Verifier) -> None:
    """Algorithm confusion: an HMAC keyed with the public key's bytes."""
    key = verifier.key_set.active
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}"
    for secret in (json.dumps(key.public_jwk()).encode(), key.public_jwk()["x"].encode()):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert verifier.refused(f"{signing_input}.{_b64(mac)}") == "bad_header"
    assert verifier.refused(f"{signing_input}.") == "malformed"  # alg none's empty signature


def test_an_unknown_kid_is_refused(verifier: Verifier) -> None:
    stranger = Verifier(verifier.key_set.active.alg, kid="stranger")
    assert verifier.refused(stranger.token()) == "unknown_kid"


def test_another_key_under_a_known_kid_is_refused(verifier: Verifier) -> None:
    impostor = Verifier(verifier.key_set.active.alg, kid=verifier.key_set.active.kid)
    assert verifier.refused(impostor.token()) == "bad_signature"


@pytest.mark.parametrize("segment", [0, 1, 2])
@pytest.mark.parametrize("damage", ["$", "+", "/", "=", " ", ".", "\u00e9", "\t", "x"])
def test_a_segment_that_is_not_strict_base64url_is_refused(
    verifier: Verifier, segment: int, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = verifier.token()
    verifier(good)  # its header is cached: a damaged header segment is not that one
    parts = good.split(".")
    middle = len(parts[segment]) // 2
    if damage == "x":  # one character more: a length no base64 text has (4n + 1), or 4n + 2
        parts[segment] += damage if len(parts[segment]) % 4 == 0 else damage * 3
        verifier.refused(".".join(parts))
        return
    parts[segment] = parts[segment][:middle] + damage + parts[segment][middle:]
    # A character outside the alphabet is refused by the strict decoding, before any
    # cryptography: the signature is never checked.
    monkeypatch.setattr(PublicKey, "verify", lambda *_: pytest.fail("signature checked"))
    assert verifier.refused(".".join(parts)) == "malformed"


@pytest.mark.parametrize("shape", ["{t}.", "{t}.x", "{t}..", ".{t}", "a.b", "a", ""])
def test_extra_or_missing_dots_are_refused(verifier: Verifier, shape: str) -> None:
    assert verifier.refused(shape.format(t=verifier.token())) in ("malformed", "not_bearer")


def test_a_huge_token_is_refused_before_any_decoding(verifier: Verifier) -> None:
    header, payload, signature = verifier.token().split(".")
    padding = "A" * MAX_TOKEN_BYTES
    assert verifier.refused(f"{header}.{payload}{padding}.{signature}") == "token_too_large"


def test_segments_must_be_utf8_json_objects(verifier: Verifier) -> None:
    token = verifier.token()
    header, _, signature = token.split(".")
    for payload in (b"\xff\xfe{}", json.dumps(_claims()).encode("utf-16"), b"[1]", b"{"):
        assert verifier.refused(f"{header}.{_b64(payload)}.{signature}") in (
            "bad_signature",
            "malformed",
        )
    for bad_header in (b"\xff", b"[1]", b"{", json.dumps({"typ": "at+jwt"}).encode("utf-16")):
        assert verifier.refused(f"{_b64(bad_header)}.{token.split('.', 1)[1]}") in (
            "malformed",
            "bad_header",
        )


@pytest.mark.parametrize(
    "claims",
    [
        _claims(exp=NOW),  # no leeway on exp
        _claims(iat=NOW + 31, exp=NOW + 900),
        _claims(nbf=NOW + 31),
        _claims(iss="https://evil.example"),
        _claims(aud="other-api"),
        _claims(jti=None),
        _claims(sub=None),
        _claims(roles="admin"),
    ],
)
def test_every_claim_check_runs_on_the_lean_path(
    verifier: Verifier, claims: dict[str, Any]
) -> None:
    assert verifier.refused(verifier.token(claims)) in ("invalid", "expired")


def test_the_header_cache_never_lets_a_refused_token_through(verifier: Verifier) -> None:
    good = verifier.token()
    verifier(good)  # its header is now cached
    header, payload, signature = good.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[0] ^= 0x80
    assert verifier.refused(f"{header}.{payload}.{_b64(bytes(raw))}") == "bad_signature"
    other = Verifier("Ed25519" if verifier.key_set.active.alg == "ES256" else "ES256", kid="k-1")
    assert verifier.refused(other.token()) in ("bad_header", "bad_signature")


def test_the_header_cache_stays_bounded(verifier: Verifier) -> None:
    token = verifier.token()
    _, payload, signature = token.split(".")
    for n in range(200):
        forged = {"typ": "at+jwt", "kid": f"forged-{n}", "alg": verifier.key_set.active.alg}
        verifier.refused(f"{_b64(json.dumps(forged).encode())}.{payload}.{signature}")
    assert len(check._HEADERS) <= check._MAX_HEADERS
    assert verifier(token) == _claims()


@pytest.mark.parametrize(
    "text", ["ab$c", "ab+c", "ab/c", "abc=", "ab c", "a", "abcde", "\u00e9bc", "", None, 12]
)
def test_b64url_decode_is_strict(text: Any) -> None:
    if text == "":
        assert b64url_decode(text) == b""
        return
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_json_segment_takes_utf8_json_only() -> None:
    assert json_segment(_b64('{"a":"é"}'.encode())) == {"a": "é"}
    with pytest.raises(ValueError):  # noqa: PT011 - UnicodeDecodeError is a ValueError
        json_segment(_b64('{"a":1}'.encode("utf-16")))
    with pytest.raises(ValueError):  # noqa: PT011
        json_segment(_b64(b"[" * 100_000))
