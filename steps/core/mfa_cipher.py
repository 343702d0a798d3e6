"""TOTP secrets at rest: KMS ``Encrypt``/``Decrypt`` with the stack's MFA key.

A TOTP secret is 20 bytes, far below KMS's 4 KiB limit, so it is encrypted directly (no
envelope). The encryption context binds each ciphertext to its account: a ciphertext copied to
another user's item does not decrypt. Only the steps that check codes may ``kms:Decrypt``; only
the enrolment step may ``kms:Encrypt`` (cdk/mfa_workflows.py). The key is named by
``MFA_KEY_ARN``; ``Decrypt`` names it too (AWS's advice: never decrypt with whatever key a
ciphertext claims).
"""

from __future__ import annotations

import os
from typing import Any

from steps.core.mfa import decode_ciphertext, encode_ciphertext

KEY_ENV = "MFA_KEY_ARN"


def _context(user_id: str) -> dict[str, str]:
    return {"stepauth:purpose": "totp-secret", "stepauth:user_id": user_id}


class KmsSecretCipher:
    def __init__(self, kms: Any, key_id: str) -> None:
        if not key_id:
            raise ValueError(f"{KEY_ENV} is not set; the MFA steps need it.")
        self._kms = kms
        self._key_id = key_id

    def encrypt(self, plaintext: str, *, user_id: str) -> str:
        answer = self._kms.encrypt(
            KeyId=self._key_id,
            Plaintext=plaintext.encode("utf-8"),
            EncryptionContext=_context(user_id),
        )
        return encode_ciphertext(answer["CiphertextBlob"])

    def decrypt(self, ciphertext: str, *, user_id: str) -> str:
        answer = self._kms.decrypt(
            KeyId=self._key_id,
            CiphertextBlob=decode_ciphertext(ciphertext),
            EncryptionContext=_context(user_id),
        )
        return bytes(answer["Plaintext"]).decode("utf-8")


def default_cipher() -> KmsSecretCipher:
    """The stack's key through the process-wide KMS client."""
    from steps.core.aws import client

    return KmsSecretCipher(client("kms"), os.environ.get(KEY_ENV, ""))
