"""Signing keys: private and public JWKs of the configured algorithm, and compact JWS.

One module for the keys of every algorithm stepauth signs or verifies with:

* ``ES256`` (ECDSA P-256, the default): the only family besides RSA that API Gateway's native
  JWT authorizers accept (``JwtConfigurationInput``: RS256/384/512, ES256/384/512).
* ``Ed25519`` (RFC 9864's fully-specified name; an option). PyJWT (2.15 here) knows only the
  polymorphic ``EdDSA`` name, so signing and verification use ``cryptography`` directly here.
* ``EdDSA`` (Ed25519 keys written before RFC 9864): verify only, so tokens signed before an
  upgrade keep verifying until they expire; new keys are never made with it.

Private JWKs are read with PyJWT's ``PyJWK`` and written by its algorithms' ``to_jwk``. Public
keys, signing and verification use ``cryptography`` directly: the authorizer verifies with this
module and must not import PyJWT at cold start, and PyJWT cannot name Ed25519 (only ``EdDSA``).
``PyJWKSet`` is not used: it skips the keys it cannot read, where one bad key must void the set.

A key set may hold keys of several algorithms (a switch of ``token_signing_algorithm`` keeps
the retired keys). Verification takes the algorithm from the key found by ``kid`` and requires
the token header to name that same algorithm: the header alone never chooses it.

The secret's SecretString is::

    {"keys": [{"kty": "EC", "crv": "P-256", "x": "...", "y": "...", "d": "...",
               "kid": "...", "alg": "ES256", "use": "sig",
               "created_at": 1700000000, "retired_at": 1700086400}, ...],
     "active_kid": "<kid>"}

``created_at`` (epoch seconds) is set when a key is generated; ``retired_at`` once another key
became active (rotation: the administration section below). Only IssueTokens and the key
administration read this secret; everyone else reads the public keys from the table.

Error messages never contain key material (they name the key by position only).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.hashes import SHA256

from steps.core.aws import error_code
from steps.core.clock import Clock, system_clock
from steps.core.config import Config, get_config
from steps.core.contract.errors import SIGNING_KEYS_NOT_INITIALISED
from steps.core.errors import SigningKeysUnavailable
from steps.core.table import Table, public_jwks_text_from_item, public_keys_item, public_keys_key

ES256 = "ES256"
ED25519 = "Ed25519"
#: The deprecated polymorphic name (RFC 9864 §2); accepted on keys made before the switch.
LEGACY_EDDSA = "EdDSA"
#: Algorithms new keys may be made with (``token_signing_algorithm``).
SIGNING_ALGORITHMS = (ES256, ED25519)
#: Every algorithm a token may be verified with: the pinned set.
VERIFY_ALGORITHMS = (ES256, ED25519, LEGACY_EDDSA)
DEFAULT_ALGORITHM = ES256
#: Kept for callers that name "the" algorithm: the default one.
ALGORITHM = DEFAULT_ALGORITHM
MAX_KID_LENGTH = 128
#: Every field a published key may have (an Ed25519 key has no ``y``).
PUBLIC_JWK_FIELDS = ("kty", "crv", "x", "y", "kid", "alg", "use")
#: How long a fetched key set is reused in-process before the secret is read again. This is
#: also the bound on how long IssueTokens may keep signing with a key after a rotation
#: retired it (the rotation keeps retired keys published long enough for that).
CACHE_SECONDS = 300.0
NOT_INITIALISED = SIGNING_KEYS_NOT_INITIALISED.describe()

_P256 = ec.SECP256R1()
_ES256_PART = 32  # bytes of r, s, x, y and d
#: Stateless (the algorithm's name and its hash): one for every verification and signature.
_ECDSA_SHA256 = ec.ECDSA(SHA256())


def _der_frame(r_high: int, s_high: int) -> tuple[bytes, bytes]:
    """The DER bytes before r and between r and s, for r and s of 32 bytes without a leading zero
    byte: an INTEGER whose first bit is set needs a 0x00 first (it would read as negative)."""
    r_length, s_length = _ES256_PART + r_high, _ES256_PART + s_high
    head = bytes((0x30, 4 + r_length + s_length, 0x02, r_length)) + b"\x00" * r_high
    return head, bytes((0x02, s_length)) + b"\x00" * s_high


#: By (high bit of s) * 2 + (high bit of r).
_DER_FRAMES = tuple(_der_frame(n & 1, n >> 1) for n in range(4))


def der_signature(raw: bytes) -> bytes:
    """The DER ``ECDSA-Sig-Value`` that ``cryptography`` verifies, of a JWS ES256 signature (r
    and s as 32 bytes each, RFC 7518 §3.4): exactly ``encode_dss_signature(r, s)``.

    Most signatures take a precomputed frame (no integers made); a leading zero byte in r or s
    (about 1 in 128 of each) changes the minimal DER length and goes to ``encode_dss_signature``.
    """
    r_first, s_first = raw[0], raw[_ES256_PART]
    if r_first and s_first:
        head, middle = _DER_FRAMES[(r_first >> 7) | (s_first >> 7 << 1)]
        return b"".join((head, raw[:_ES256_PART], middle, raw[_ES256_PART:]))
    r = int.from_bytes(raw[:_ES256_PART], "big")
    return encode_dss_signature(r, int.from_bytes(raw[_ES256_PART:], "big"))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


#: The padding ``a2b_base64`` wants, by the text's length modulo 4 (1 is no base64 length).
_PADDING = ("", "===", "==", "=")


def b64url_decode(text: Any) -> bytes:
    """Strict base64url without padding; ValueError otherwise.

    Strict: any character outside the base64url alphabet is refused (``urlsafe_b64decode``
    skips the ones it does not know, and takes ``+`` and ``/``). One C call, no translation
    table: the authorizer decodes two segments of every token with it.
    """
    if not isinstance(text, str) or not text.isascii() or "=" in text or "+" in text or "/" in text:
        raise ValueError("not base64url")
    standard = text.replace("-", "+").replace("_", "/") + _PADDING[len(text) % 4]
    try:
        return binascii.a2b_base64(standard, strict_mode=True)
    except binascii.Error:
        raise ValueError("not base64url") from None


#: ``json.loads``' own decoder, called without its wrapper; ``_scan`` parses one value at the
#: start of a text (what ``decode`` calls after skipping whitespace).
_JSON = json.JSONDecoder()
_scan = _JSON.scan_once


def json_document(data: bytes) -> Any:
    """The JSON value of a decoded JWS segment; ValueError when it is not one (UTF-8 only, as
    RFC 7515 requires: ``json.loads`` of bytes would also guess UTF-16 and 32).

    The same answer as ``json.loads`` of the text, faster for the usual segment (a value with
    no whitespace around it); anything else gets ``json.loads``' own parse and error.
    """
    try:
        text = data.decode("utf-8")
        try:
            value, end = _scan(text, 0)
        except StopIteration:  # no value starts the text: whitespace first, or not JSON
            end = -1
        if end != len(text):
            value = _JSON.decode(text)
        return value
    except RecursionError:
        raise ValueError("not JSON") from None


def json_segment(text: Any) -> Any:
    """The JSON value of a base64url segment of a JWS (:func:`json_document`)."""
    return json_document(b64url_decode(text))


def check_algorithm(name: Any) -> str:
    """A signing algorithm name of the configuration; ValueError for anything else."""
    if name not in SIGNING_ALGORITHMS:
        raise ValueError(f"token_signing_algorithm must be one of {', '.join(SIGNING_ALGORITHMS)}.")
    return str(name)


# -- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicKey:
    """A verification key: its ``kid``, its algorithm and the ``cryptography`` public key."""

    kid: str
    public_key: Ed25519PublicKey | ec.EllipticCurvePublicKey
    alg: str = ED25519
    #: Decided once: ``isinstance`` with ``cryptography``'s abstract key classes is not free.
    _is_ed25519: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_is_ed25519", isinstance(self.public_key, Ed25519PublicKey))

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's JWS signature of ``signing_input``."""
        try:
            if self._is_ed25519:
                self.public_key.verify(signature, signing_input)
                return True
            if len(signature) != 2 * _ES256_PART:
                return False
            self.public_key.verify(der_signature(signature), signing_input, _ECDSA_SHA256)
            return True
        except (InvalidSignature, ValueError):
            return False

    def jwk(self) -> dict[str, str]:
        if isinstance(self.public_key, Ed25519PublicKey):
            raw = self.public_key.public_bytes(*_raw_format())
            return {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url(raw),
                "kid": self.kid,
                "alg": self.alg,
                "use": "sig",
            }
        numbers = self.public_key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(_ES256_PART, "big")),
            "y": b64url(numbers.y.to_bytes(_ES256_PART, "big")),
            "kid": self.kid,
            "alg": self.alg,
            "use": "sig",
        }

    def __repr__(self) -> str:
        return f"PublicKey(kid={self.kid!r}, alg={self.alg!r})"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    public_key: Ed25519PublicKey | ec.EllipticCurvePublicKey
    created_at: int | None = None
    retired_at: int | None = None
    alg: str = ED25519

    @property
    def public(self) -> PublicKey:
        return PublicKey(kid=self.kid, public_key=self.public_key, alg=self.alg)

    def sign(self, signing_input: bytes) -> bytes:
        if isinstance(self.private_key, Ed25519PrivateKey):
            return self.private_key.sign(signing_input)
        r, s = decode_dss_signature(self.private_key.sign(signing_input, _ECDSA_SHA256))
        return r.to_bytes(_ES256_PART, "big") + s.to_bytes(_ES256_PART, "big")

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        return self.public.verify(signing_input, signature)

    def public_jwk(self) -> dict[str, str]:
        return self.public.jwk()

    def __repr__(self) -> str:  # never show key material
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


class VerificationKey(Protocol):
    """What token verification needs of a key (a private or a public one)."""

    @property
    def kid(self) -> str: ...

    @property
    def alg(self) -> str: ...

    def verify(self, signing_input: bytes, signature: bytes) -> bool: ...


class KeyLookup(Protocol):
    """Anything that finds a verification key by its ``kid`` (a private or public key set)."""

    def get(self, kid: str) -> VerificationKey | None: ...


@dataclass(frozen=True)
class SigningKeySet:
    active: SigningKey
    keys: tuple[SigningKey, ...]

    def get(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


@dataclass(frozen=True)
class PublicKeySet:
    keys: tuple[PublicKey, ...] = ()

    def get(self, kid: str) -> PublicKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self.keys)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key.alg for key in self.keys))


def default_kid() -> str:
    """A fresh key id: the UTC date and 8 random url-safe characters, e.g. 20250101-AbC..."""
    import secrets  # only key generation draws randomness here (not the authorizer)

    return f"{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_urlsafe(6)}"


def generate_signing_key(
    kid: str | None = None, *, created_at: float | None = None, algorithm: str = DEFAULT_ALGORITHM
) -> dict[str, Any]:
    """A new private JWK of ``algorithm``, stamped with ``created_at`` (default: now)."""
    check_algorithm(algorithm)
    # cryptography makes the key (PyJWT has no key generation); PyJWT writes its JWK.
    private: Ed25519PrivateKey | ec.EllipticCurvePrivateKey = (
        ec.generate_private_key(_P256) if algorithm == ES256 else Ed25519PrivateKey.generate()
    )
    jwk = _pyjwt_algorithm(algorithm).to_jwk(private, as_dict=True)
    return {
        **jwk,
        "kid": kid or default_kid(),
        "alg": algorithm,
        "use": "sig",
        "created_at": int(time.time() if created_at is None else created_at),
    }


def new_key_set(
    kid: str | None = None, *, now: float | None = None, algorithm: str = DEFAULT_ALGORITHM
) -> dict[str, Any]:
    """A secret document holding one freshly generated key, which is active."""
    key = generate_signing_key(kid, created_at=now, algorithm=algorithm)
    return {"keys": [key], "active_kid": key["kid"]}


# -- parsing -----------------------------------------------------------------------------------


def _invalid(reason: str) -> SigningKeysUnavailable:
    return SigningKeysUnavailable(
        f"The signing key secret does not hold a valid key set: {reason}."
    )


def _public_part(jwk: Any, where: str) -> tuple[PublicKey, dict[str, str]]:
    """The public key of a JWK and its public fields; ValueError (no key material) if bad."""
    if not isinstance(jwk, Mapping):
        raise ValueError(f"{where} is not a JSON object")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH or not kid.isprintable():
        raise ValueError(f"{where} has no usable kid")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"{where} is not a signing key")
    public: Ed25519PublicKey | ec.EllipticCurvePublicKey
    if kty == "OKP" and crv == "Ed25519":
        alg = jwk.get("alg", LEGACY_EDDSA)
        if alg not in (ED25519, LEGACY_EDDSA):
            raise ValueError(f"{where} is an Ed25519 key with another algorithm")
        try:
            x = b64url_decode(jwk.get("x"))
        except ValueError:
            raise ValueError(f"{where} has a malformed x value") from None
        if len(x) != 32:
            raise ValueError(f"{where} has a malformed x value")
        public = Ed25519PublicKey.from_public_bytes(x)
    elif kty == "EC" and crv == "P-256":
        alg = jwk.get("alg", ES256)
        if alg != ES256:
            raise ValueError(f"{where} is a P-256 key with another algorithm")
        try:
            x, y = b64url_decode(jwk.get("x")), b64url_decode(jwk.get("y"))
            if len(x) != _ES256_PART or len(y) != _ES256_PART:
                raise ValueError
            public = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), _P256
            ).public_key()
        except ValueError:
            raise ValueError(f"{where} has a malformed x or y value") from None
    else:
        raise ValueError(f"{where} is neither an Ed25519 nor a P-256 key")
    key = PublicKey(kid=kid, public_key=public, alg=str(alg))
    return key, key.jwk()


#: PyJWT 2.15 knows Ed25519 only by the polymorphic name EdDSA (RFC 9864's name is ours).
_PYJWT_ALGORITHMS = {ES256: "ES256", ED25519: "EdDSA", LEGACY_EDDSA: "EdDSA"}


def _pyjwt_algorithm(alg: str) -> Any:
    from jwt.algorithms import get_default_algorithms

    return get_default_algorithms()[_PYJWT_ALGORITHMS[alg]]


def _private_key(jwk: Mapping[str, Any], alg: str) -> Any:
    """The private key of a JWK, read by PyJWT's ``PyJWK``; ValueError when it is not one.

    PyJWT's own errors quote the JWK (its ``d`` among it): they are replaced, never passed on.
    """
    from jwt import PyJWK

    fields = {name: jwk[name] for name in ("kty", "crv", "x", "y", "d") if name in jwk}
    try:
        key = PyJWK(fields, algorithm=_PYJWT_ALGORITHMS[alg]).key
    except Exception:  # noqa: BLE001 - PyJWKError, InvalidKeyError, ValueError …
        raise ValueError("not a private key") from None
    if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("not a private key")
    return key


def _raw_format() -> tuple[Any, Any]:
    """``(Encoding.Raw, PublicFormat.Raw)``; cryptography's serialization package (its SSH and
    cipher modules, ~10 ms) is imported on first use: the authorizer never writes a key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return Encoding.Raw, PublicFormat.Raw


def _same_public_key(
    one: Ed25519PublicKey | ec.EllipticCurvePublicKey,
    other: Ed25519PublicKey | ec.EllipticCurvePublicKey,
) -> bool:
    if isinstance(one, Ed25519PublicKey) and isinstance(other, Ed25519PublicKey):
        return one.public_bytes(*_raw_format()) == other.public_bytes(*_raw_format())
    if isinstance(one, ec.EllipticCurvePublicKey) and isinstance(other, ec.EllipticCurvePublicKey):
        return one.public_numbers() == other.public_numbers()
    return False


def _parse_private(jwk: Any, position: int) -> SigningKey:
    where = f"key {position}"
    try:
        public, _ = _public_part(jwk, where)
    except ValueError as error:
        raise _invalid(str(error)) from None
    try:
        b64url_decode(jwk.get("d"))  # strict: PyJWT's decoder skips characters it does not know
        private = _private_key(jwk, public.alg)
    except ValueError:
        raise _invalid(f"{where} has a malformed d value") from None
    # PyJWK reads an OKP key from d alone and never compares it with x: checked here.
    if not _same_public_key(private.public_key(), public.public_key):
        raise _invalid(f"{where} has a public part that does not match its private part")
    times = {}
    for name in ("created_at", "retired_at"):
        value = jwk.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise _invalid(f"{where} has a {name} that is not an integer")
        times[name] = value
    return SigningKey(
        kid=public.kid,
        private_key=private,
        public_key=public.public_key,
        alg=public.alg,
        **times,
    )


def parse_key_set(secret_string: Any) -> SigningKeySet:
    """Parse and check a secret document; SigningKeysUnavailable when it is not a valid set."""
    if not isinstance(secret_string, str) or not secret_string.strip():
        raise SigningKeysUnavailable(NOT_INITIALISED)
    try:
        document = json.loads(secret_string)
    except ValueError:
        raise _invalid("it is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _invalid("there is no keys list")
    if not document["keys"]:
        raise SigningKeysUnavailable(NOT_INITIALISED)
    keys = tuple(_parse_private(jwk, i) for i, jwk in enumerate(document["keys"], start=1))
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise _invalid("two keys share a kid")
    active_kid = document.get("active_kid")
    active = next((key for key in keys if key.kid == active_kid), None)
    if active is None:
        raise _invalid("active_kid does not name one of the keys")
    return SigningKeySet(active=active, keys=keys)


def public_jwks(key_set: SigningKeySet) -> dict[str, list[dict[str, str]]]:
    """The public JWK Set: the active key first, then the retired keys still kept.

    Only the public fields; never ``d``, nor the key's timestamps.
    """
    ordered = [key_set.active, *(k for k in key_set.keys if k is not key_set.active)]
    return {"keys": [key.public_jwk() for key in ordered]}


def _invalid_public(reason: str) -> ValueError:
    return ValueError(f"The public signing keys are invalid: {reason}.")


def public_jwks_document(document: Any) -> dict[str, list[dict[str, str]]]:
    """Check a JWK Set and keep only the public fields of each key (drops ``d`` and the rest).

    Raises ValueError (naming keys by position only) when it is not a set of usable keys.
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            raise _invalid_public("it is not JSON") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise _invalid_public("there is no keys list")
    keys = []
    for i, jwk in enumerate(document["keys"], start=1):
        try:
            keys.append(_public_part(jwk, f"key {i}")[1])
        except ValueError as error:
            raise _invalid_public(str(error)) from None
    kids = [key["kid"] for key in keys]
    if len(set(kids)) != len(kids):
        raise _invalid_public("two keys share a kid")
    return {"keys": keys}


def parse_public_jwks(document: Any) -> PublicKeySet:
    """The verification keys of a JWK Set (see :func:`public_jwks_document`)."""
    checked = public_jwks_document(document)
    return PublicKeySet(
        tuple(_public_part(jwk, f"key {i}")[0] for i, jwk in enumerate(checked["keys"], 1))
    )


# -- compact JWS -------------------------------------------------------------------------------


def _json_segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def sign_compact(header: Mapping[str, Any], claims: Mapping[str, Any], key: SigningKey) -> str:
    """A compact JWS of ``claims``; the header's ``alg`` and ``kid`` are the key's."""
    protected = {**header, "alg": key.alg, "kid": key.kid}
    signing_input = f"{_json_segment(protected)}.{_json_segment(claims)}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


class InvalidJws(Exception):
    """Not a well-formed compact JWS verified by a known key (``reason`` is a fixed word)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def split_compact(token: str) -> tuple[dict[str, Any], str, str, str]:
    """``(header, header segment, payload segment, signature segment)`` of a compact JWS."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidJws("malformed")
    try:
        header = json_segment(parts[0])
    except ValueError:
        raise InvalidJws("malformed") from None
    if not isinstance(header, dict):
        raise InvalidJws("malformed")
    return header, parts[0], parts[1], parts[2]


def verify_compact(
    header: Mapping[str, Any], segments: tuple[str, str, str], key: VerificationKey
) -> dict[str, Any]:
    """The payload of a split JWS once ``key`` verified it; InvalidJws otherwise.

    The algorithm is the key's (one of ``VERIFY_ALGORITHMS``); the header must name the same.
    The payload and the signature are decoded (strict base64url) before the signature is
    checked: a character outside the alphabet is ``malformed`` without any cryptography.
    """
    if key.alg not in VERIFY_ALGORITHMS or header.get("alg") != key.alg:
        raise InvalidJws("bad_header")
    protected, payload, signature = segments
    try:
        raw_signature = b64url_decode(signature)
        document = b64url_decode(payload)
    except ValueError:
        raise InvalidJws("malformed") from None
    if not key.verify(f"{protected}.{payload}".encode(), raw_signature):
        raise InvalidJws("bad_signature")
    try:
        claims = json_document(document)
    except ValueError:
        raise InvalidJws("malformed") from None
    if not isinstance(claims, dict):
        raise InvalidJws("malformed")
    return claims


# -- the private key set, cached (Powertools Parameters) ---------------------------------------


def _secrets_provider_class() -> type:
    """Powertools' ``SecretsProvider`` with its cache on the caller's clock: the tests drive
    expiry with a manual clock instead of waiting (Powertools reads ``datetime.now()``)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.base import ExpirableValue

    class ClockedSecretsProvider(SecretsProvider):
        clock: Clock = system_clock

        def _clock_time(self, offset: float = 0.0) -> datetime.datetime:
            return datetime.datetime.fromtimestamp(self.clock.now() + offset, tz=datetime.UTC)

        def has_not_expired_in_cache(self, key: tuple) -> bool:
            cached = self.store.get(key)
            return cached is not None and cached.ttl > self._clock_time()

        def add_to_cache(self, key: tuple, value: Any, max_age: int) -> None:
            if max_age > 0:
                self.store[key] = ExpirableValue(value, self._clock_time(max_age))

    return ClockedSecretsProvider


#: The secret's provider (and the client it was built with) and the last key set parsed.
_provider: tuple[Any, Any] | None = None
_parsed: tuple[str, SigningKeySet] | None = None


def clear_signing_keys_cache() -> None:
    global _provider, _parsed
    _provider = None
    _parsed = None


def _secrets_provider(secrets_client: Any) -> Any:
    global _provider
    if _provider is None or _provider[0] is not secrets_client:
        _provider = (secrets_client, _secrets_provider_class()(boto3_client=secrets_client))
    return _provider[1]


def load_signing_keys(
    secrets_client: Any = None,
    *,
    clock: Clock = system_clock,
    config: Config | None = None,
    max_age: float = CACHE_SECONDS,
) -> SigningKeySet:
    """Fetch and parse the key set from SIGNING_KEYS_SECRET_ID, cached for ``max_age`` seconds.

    The secret string is fetched and cached by Powertools Parameters (through the caller's or
    the service's boto3 client, so the in-process local cloud is reached as by every call); the
    key set parsed from it is reused while the string is the same. A missing, empty or invalid
    secret raises SigningKeysUnavailable (and is not cached, so an initialised secret is picked
    up on the next call). Other AWS errors propagate.
    """
    global _parsed
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    secret_id = (config or get_config()).required_signing_keys_secret_id
    if secrets_client is None:
        from steps.core.aws import client

        secrets_client = client("secretsmanager")  # cached: the provider and its cache stay
    provider = _secrets_provider(secrets_client)
    provider.clock = clock
    try:
        value = provider.get(secret_id, max_age=int(max_age))
    except GetParameterError as exc:
        cause = exc.__context__ or exc  # Powertools wraps the client's error in its own
        if error_code(cause) == "ResourceNotFoundException":
            raise SigningKeysUnavailable(NOT_INITIALISED) from None
        raise cause from None
    secret_string = value if isinstance(value, str) else None
    if _parsed is not None and secret_string is not None and _parsed[0] == secret_string:
        return _parsed[1]
    try:
        key_set = parse_key_set(secret_string)
    except SigningKeysUnavailable:
        provider.clear_cache()
        raise
    if secret_string is not None:
        _parsed = (secret_string, key_set)
    return key_set


# -- administration: initialise, rotate, publish (the local cloud and the command line) --------
#
# The private keys live in the Secrets Manager secret (see :mod:`steps.core.signing_keys`); the
# public JWK Set is copied to the table item ``SIGNING_KEYS / PUBLIC`` whenever they change, and
# always BEFORE the secret is written, so that a token signed with a new key can be verified as
# soon as anyone can sign one.
#
# Rotation timeline: ``rotate_signing_keys`` adds a new active key and retires the previous one.
# IssueTokens caches the private key set for at most ``CACHE_SECONDS`` (300 s), so it may sign
# with the retired key for that long; tokens live ``access_token_ttl_seconds``, and verification
# allows ``LEEWAY_SECONDS`` (30 s) of clock skew. A retired key therefore stays published for
# ``access_token_ttl_seconds + 300 + 30`` seconds and is dropped by the first rotation after that.

_NOT_FOUND = "ResourceNotFoundException"


def _current_secret_string(secrets_client: Any, secret_id: str) -> str | None:
    try:
        response = secrets_client.get_secret_value(SecretId=secret_id)
    except Exception as exc:
        if error_code(exc) == _NOT_FOUND:  # no secret, or a secret without a value yet
            return None
        raise
    value = response.get("SecretString")
    return value if isinstance(value, str) else None


def _write(secrets_client: Any, secret_id: str, secret_string: str) -> None:
    try:
        secrets_client.put_secret_value(SecretId=secret_id, SecretString=secret_string)
    except Exception as exc:
        # A secret that does not exist at all is created, when it is named (not an ARN).
        if error_code(exc) != _NOT_FOUND or secret_id.startswith("arn:"):
            raise
        secrets_client.create_secret(Name=secret_id, SecretString=secret_string)


def publish_public_keys(table: Table, key_set: SigningKeySet, *, now: float) -> bool:
    """Write the public JWK Set of ``key_set`` to the table; False when it was already there."""
    document = public_jwks(key_set)
    current = public_jwks_text_from_item(table.get(public_keys_key(), consistent=True))
    if current is not None:
        try:
            if public_jwks_document(current) == document:
                return False
        except ValueError:
            pass  # a malformed item is replaced
    table.put(public_keys_item(document, updated_at=int(now)))
    return True


def initialise_signing_keys(
    secrets_client: Any,
    secret_id: str,
    table: Table | None = None,
    *,
    now: float | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """Make sure the secret holds a valid key set and the table its public keys; return the kid.

    Idempotent: a valid key set is left alone (and its public item written only if missing or
    different). A missing value, a placeholder or an invalid document is replaced by a fresh set
    with one new key. Never returns or logs key material.

    ``table`` should always be given: the authorizer and the JWKS endpoint read the public keys
    from it. It is optional only so that callers written before the public item existed keep
    running (they then publish nothing).
    """
    now = time.time() if now is None else now
    current = _current_secret_string(secrets_client, secret_id)
    if current is not None:
        try:
            key_set = parse_key_set(current)
        except SigningKeysUnavailable:
            pass
        else:
            if table is not None:
                publish_public_keys(table, key_set, now=now)
            return key_set.active.kid
    document = new_key_set(now=now, algorithm=algorithm)
    secret_string = json.dumps(document)
    if table is not None:
        publish_public_keys(table, parse_key_set(secret_string), now=now)
    _write(secrets_client, secret_id, secret_string)
    clear_signing_keys_cache()
    return str(document["active_kid"])


def retention_seconds(access_token_ttl_seconds: int) -> int:
    """How long a retired key stays published: it may still verify a live token until then."""
    from steps.core.tokens import LEEWAY_SECONDS  # tokens imports this module

    return access_token_ttl_seconds + int(CACHE_SECONDS) + LEEWAY_SECONDS


def rotate_signing_keys(
    secrets_client: Any,
    secret_id: str,
    table: Table,
    *,
    access_token_ttl_seconds: int,
    now: float | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """Add a new active key, retire the previous one, prune long-retired keys; return the kid.

    The new key uses ``algorithm`` (the configured ``token_signing_algorithm``): switching the
    algorithm is a rotation, and keys of the previous algorithm stay published, and verify the
    tokens they signed, until those expire.

    Keys retired more than ``retention_seconds(access_token_ttl_seconds)`` ago are dropped:
    no live token can carry their kid. The public item is written before the secret. Raises
    SigningKeysUnavailable when the secret holds no valid key set (initialise it first).
    """
    now = time.time() if now is None else now
    stamp = int(now)
    current = _current_secret_string(secrets_client, secret_id)
    parse_key_set(current)  # a valid set, or SigningKeysUnavailable
    document = json.loads(str(current))
    keep_until = retention_seconds(access_token_ttl_seconds)
    keys: list[dict[str, Any]] = []
    for jwk in document["keys"]:
        jwk = dict(jwk)
        if jwk.get("retired_at") is None:  # the active key, or a legacy key without the stamp
            jwk["retired_at"] = stamp
        if stamp - jwk["retired_at"] > keep_until:
            continue
        keys.append(jwk)
    new_key = generate_signing_key(created_at=now, algorithm=algorithm)
    while any(jwk["kid"] == new_key["kid"] for jwk in keys):
        new_key = generate_signing_key(created_at=now, algorithm=algorithm)
    rotated = {"keys": [new_key, *keys], "active_kid": new_key["kid"]}
    secret_string = json.dumps(rotated)
    key_set = parse_key_set(secret_string)
    publish_public_keys(table, key_set, now=now)
    _write(secrets_client, secret_id, secret_string)
    clear_signing_keys_cache()
    return key_set.active.kid
