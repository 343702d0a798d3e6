"""``stepauth keys list``: the published signing keys, active first, with their dates.

What verifiers use is the public JWK Set in the table; the creation and retirement dates are
only in the private key set (the secret), so they are read from there when the caller may read
it. The private key material is never printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from steps.core.errors import SigningKeysUnavailable
from steps.core.public_keys import public_jwks_document
from steps.core.signing_keys import parse_key_set
from steps.core.table import public_jwks_text_from_item, public_keys_key

from . import output
from .target import Target, TargetError


def key_dates(secrets: Any, secret_id: str) -> dict[str, tuple[int | None, int | None]]:
    """``kid -> (created_at, retired_at)`` from the secret; empty when it cannot be read."""
    from botocore.exceptions import ClientError

    try:
        secret = secrets.get_secret_value(SecretId=secret_id).get("SecretString")
        keys = parse_key_set(secret).keys
    except (ClientError, SigningKeysUnavailable):
        return {}
    return {key.kid: (key.created_at, key.retired_at) for key in keys}


def list_keys(args: argparse.Namespace, target: Target) -> int:
    text = public_jwks_text_from_item(target.table().get(public_keys_key()))
    if text is None:
        raise TargetError("no signing keys published yet; run `stepauth keys init`")
    published = public_jwks_document(text)["keys"]
    dates = key_dates(target.client("secretsmanager"), target.output("SigningKeysSecretArn"))
    rows = []
    for index, key in enumerate(published):
        created, retired = dates.get(key["kid"], (None, None))
        rows.append(
            {
                **key,
                "status": "active" if index == 0 else "retired",
                "created_at": output.iso(output.from_epoch(created)),
                "retired_at": output.iso(output.from_epoch(retired)),
            }
        )
    if output.wants_json(args):
        output.json_document({"keys": rows})
        return 0
    output.table(
        ("KID", "STATUS", "ALG", "CREATED (UTC)", "RETIRED (UTC)"),
        [
            (
                output.clean(row["kid"]),
                row["status"],
                output.clean(row.get("alg")),
                output.utc(output.from_epoch(dates.get(row["kid"], (None, None))[0])),
                output.utc(output.from_epoch(dates.get(row["kid"], (None, None))[1])),
            )
            for row in rows
        ],
    )
    if not dates:
        print("(dates need read access to the signing-keys secret)", file=sys.stderr)
    return 0
