"""DynamoDB's item calls without botocore's per-call machinery around the network.

Why: a login, a refresh and an authorized request make one to three DynamoDB calls each, and
botocore spends 0.5–0.8 ms of CPU on each of them besides the network: endpoint rules, an
``email.message`` header map, SigV4 over it, a serializer and a parser that walk the operation's
shapes. DynamoDB's protocol is JSON in and out, so this client sends the request as
``json.dumps`` of the parameters, signs it with SigV4 itself, and reads the answer with
``json.loads``: about a fifth of botocore's CPU per call (BENCHMARKS.md).

It keeps what makes a call behave as the botocore client's, by using that client's parts:

* its events, emitted as botocore emits them: ``before-parameter-build`` (botocore's
  idempotency token of a TransactWriteItems; the local cloud's IAM decision), ``before-call``
  (the local cloud's fault injection, the Lambda recursion-detection header), ``before-send``
  (the local cloud's in-process answer) and ``needs-retry`` (botocore's own legacy DynamoDB
  retry policy under the client's attempt limit, CRC32 check included);
* its HTTP session (time-outs, proxies, CA bundle, pooled connections), its credentials, its
  parser for error answers and its exception classes (``client.exceptions.X``);
* an X-Ray subsegment per call when the X-Ray SDK has patched botocore (Powertools' Tracer does
  on a traced invocation), as that patch records one, and the subsegment's ``X-Amzn-Trace-Id``
  header on the request, as the patch's ``Endpoint.prepare_request`` wrapper (a method this
  client never calls) puts it there: after signing, unsigned.

Binary attribute values (``B``, ``BS``) are not supported: the service table holds none, and
``json.dumps`` refuses bytes. Every other attribute (paginators, ``meta``, ``exceptions``, the
control plane) is the botocore client's own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

# Loaded with the client (steps/core/aws.py creates it on first use), never by a handler's import.
from botocore.awsrequest import AWSPreparedRequest
from botocore.endpoint import convert_to_response_dict
from botocore.exceptions import NoCredentialsError
from botocore.hooks import first_non_none_response
from botocore.parsers import create_parser

_ALGORITHM = "AWS4-HMAC-SHA256"
#: Headers botocore's SigV4 leaves unsigned (botocore.auth.SIGNED_HEADERS_BLACKLIST).
_UNSIGNED_HEADERS = frozenset({"expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DynamoDBClient:
    """A botocore DynamoDB client whose item operations skip botocore's per-call layers.

    ``client``: a botocore DynamoDB client (its events, session, parser and exceptions are used);
    ``credentials``: the botocore credentials it signs with (refreshed as botocore refreshes
    them). ``clock``: epoch seconds, for the signature's date (tests).
    """

    def __init__(self, client: Any, credentials: Any, *, clock: Any = time.time) -> None:
        meta = client.meta
        self._client = client
        self._credentials = credentials
        self._clock = clock
        self._events = meta.events
        self._model = meta.service_model
        self._region = meta.region_name
        self._config = meta.config
        # botocore's own HTTP session for this client: its time-outs, proxies and CA bundle.
        self._http = client._endpoint.http_session
        self._url = meta.endpoint_url.rstrip("/") + "/"
        self._host = _signed_host(self._url)
        self._target = self._model.metadata["targetPrefix"] + "."
        self._content_type = "application/x-amz-json-" + self._model.metadata["jsonVersion"]
        self._scope_tail = f"/{self._region}/{self._model.signing_name}/aws4_request"
        self._signing_key: tuple[tuple[str, str], bytes] | None = None
        self._error_parser = create_parser(self._model.protocol)
        self._user_agent = f"stepauth Botocore/{_botocore_version()}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    # The item operations the service table makes (steps/core/table/repository.py).
    def get_item(self, **params: Any) -> dict[str, Any]:
        return self.call("GetItem", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self.call("PutItem", params)

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self.call("UpdateItem", params)

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self.call("DeleteItem", params)

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return self.call("BatchGetItem", params)

    def batch_write_item(self, **params: Any) -> dict[str, Any]:
        return self.call("BatchWriteItem", params)

    def transact_get_items(self, **params: Any) -> dict[str, Any]:
        return self.call("TransactGetItems", params)

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        return self.call("TransactWriteItems", params)

    def query(self, **params: Any) -> dict[str, Any]:
        return self.call("Query", params)

    def scan(self, **params: Any) -> dict[str, Any]:
        return self.call("Scan", params)

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """The answer to one DynamoDB operation (botocore's name, e.g. ``GetItem``)."""
        if not botocore_traced():
            return self._call(operation, params)
        from aws_xray_sdk.core import xray_recorder
        from aws_xray_sdk.ext.boto_utils import aws_meta_processor

        # As the X-Ray SDK's botocore patch records a call (instance: the botocore client).
        return xray_recorder.record_subsegment(  # type: ignore[no-any-return]
            lambda operation, params: self._call(operation, params),
            self._client,
            (operation, params),
            {},
            name="dynamodb",
            namespace="aws",
            meta_processor=aws_meta_processor,
        )

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        model = self._model.operation_model(operation)
        context: dict[str, Any] = {
            "client_region": self._region,
            "client_config": self._config,
            "has_streaming_input": False,
            "auth_type": "v4",
        }
        self._events.emit(
            f"before-parameter-build.dynamodb.{operation}",
            params=params,
            model=model,
            context=context,
        )
        request_dict: dict[str, Any] = {
            "url_path": "/",
            "query_string": "",
            "method": "POST",
            "headers": {
                "X-Amz-Target": self._target + operation,
                "Content-Type": self._content_type,
                "User-Agent": self._user_agent,
            },
            "body": json.dumps(params, separators=(",", ":")).encode("utf-8"),
            "url": self._url,
            "context": context,
        }
        _, answered = self._events.emit_until_response(
            f"before-call.dynamodb.{operation}",
            model=model,
            params=request_dict,
            request_signer=None,
            context=context,
        )
        if answered is not None:  # an answer before the call is final: botocore retries none
            return self._result(operation, answered, attempts=1)
        attempts = 1
        while True:
            response, exception = self._attempt(operation, model, request_dict)
            delay = first_non_none_response(
                self._events.emit(
                    f"needs-retry.dynamodb.{operation}",
                    response=response,
                    endpoint=None,
                    operation=model,
                    attempts=attempts,
                    caught_exception=exception,
                    request_dict=request_dict,
                )
            )
            if delay is None or delay is False:
                break
            attempts += 1
            time.sleep(delay)
        if exception is not None:
            raise exception
        assert response is not None  # noqa: S101 - an attempt answers one or the other
        return self._result(operation, response, attempts=attempts)

    def _result(
        self, operation: str, response: tuple[Any, dict[str, Any]], *, attempts: int
    ) -> dict[str, Any]:
        """The parsed answer, or its error raised as botocore's exception class for its code."""
        http, parsed = response
        if "ResponseMetadata" in parsed:
            parsed["ResponseMetadata"]["RetryAttempts"] = attempts - 1
        if http.status_code >= 300:
            code = parsed.get("Error", {}).get("Code")
            raise self._client.exceptions.from_code(code)(parsed, operation)
        return parsed

    def _attempt(
        self, operation: str, model: Any, request_dict: dict[str, Any]
    ) -> tuple[tuple[Any, dict[str, Any]] | None, Exception | None]:
        """One signed send: ``((http response, parsed), None)`` or ``(None, the exception)``,
        as botocore's endpoint reports an attempt to its retry handler."""
        try:
            headers = self._signed_headers(request_dict["headers"], request_dict["body"])
            if botocore_traced():
                inject_trace_header(headers)
            request = AWSPreparedRequest(
                "POST", self._url, headers, request_dict["body"], stream_output=False
            )
            http = first_non_none_response(
                self._events.emit(f"before-send.dynamodb.{operation}", request=request)
            )
            if http is None:
                http = self._http.send(request)
            return (http, self._parsed(http, model)), None
        except Exception as exception:  # botocore's endpoint hands every one to its retry check
            return None, exception

    def _parsed(self, http: Any, model: Any) -> dict[str, Any]:
        body = http.content
        if http.status_code >= 300:
            # As botocore's endpoint parses an error: the error, then its modelled fields
            # (a cancelled transaction's CancellationReasons).
            response = convert_to_response_dict(http, model)
            parsed = self._error_parser.parse(response, model.output_shape)
            code = parsed.get("Error", {}).get("Code")
            shape = self._model.shape_for_error_code(code) if code else None
            if shape is not None:
                parsed.update(self._error_parser.parse(response, shape))
            return parsed  # type: ignore[no-any-return]
        parsed = json.loads(body) if body and body.strip() else {}
        headers = http.headers
        parsed["ResponseMetadata"] = {
            "RequestId": headers.get("x-amzn-requestid", ""),
            "HTTPStatusCode": http.status_code,
            "HTTPHeaders": dict(headers),
            "RetryAttempts": 0,
        }
        return parsed  # type: ignore[no-any-return]

    def _signed_headers(self, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """``headers`` with ``X-Amz-Date``, the session token and a SigV4 ``Authorization``."""
        if self._credentials is None:
            raise NoCredentialsError()
        credentials = self._credentials.get_frozen_credentials()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        signed = {name: value for name, value in headers.items() if name != "Authorization"}
        signed["X-Amz-Date"] = amz_date
        if credentials.token:
            signed["X-Amz-Security-Token"] = credentials.token
        canonical, names = _canonical_headers(signed, self._host)
        scope = amz_date[:8] + self._scope_tail
        request = "\n".join(("POST", "/", "", canonical, names, hashlib.sha256(body).hexdigest()))
        string_to_sign = "\n".join(
            (_ALGORITHM, amz_date, scope, hashlib.sha256(request.encode("utf-8")).hexdigest())
        )
        key = self._key(credentials.secret_key, amz_date[:8])
        signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        signed["Authorization"] = (
            f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}"
        )
        return signed

    def _key(self, secret_key: str, date: str) -> bytes:
        """The day's SigV4 signing key (derived once a day per secret)."""
        cached = self._signing_key
        if cached is not None and cached[0] == (secret_key, date):
            return cached[1]
        key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
        for part in (self._region, self._model.signing_name, "aws4_request"):
            key = _hmac(key, part)
        self._signing_key = ((secret_key, date), key)
        return key


def botocore_traced() -> bool:
    """Whether the X-Ray SDK has patched botocore's calls (it wraps them with ``wrapt``); read
    without importing either, so an untraced process (the authorizer) loads nothing for it."""
    wrapt = sys.modules.get("wrapt")
    if wrapt is None:
        return False
    from botocore.client import BaseClient

    # type(): a wrapt proxy answers isinstance() as the function it wraps.
    return issubclass(type(BaseClient.__dict__["_make_api_call"]), wrapt.FunctionWrapper)


def inject_trace_header(headers: dict[str, str]) -> None:
    """The current X-Ray subsegment's trace header in ``headers`` (none outside a segment), as
    the X-Ray SDK's botocore patch injects it into every request botocore prepares."""
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.exceptions.exceptions import SegmentNotFoundException
    from aws_xray_sdk.ext.util import inject_trace_header as inject

    try:
        subsegment = xray_recorder.current_subsegment()
    except SegmentNotFoundException:
        return
    if subsegment:
        inject(headers, subsegment)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _canonical_headers(headers: dict[str, str], host: str) -> tuple[str, str]:
    """SigV4's canonical headers and signed-header list: the host and every header but the
    unsigned ones, lower-cased, sorted, values trimmed with inner spaces collapsed."""
    signed = {"host": host}
    for name, value in headers.items():
        lower = name.lower()
        if lower not in _UNSIGNED_HEADERS:
            signed[lower] = " ".join(str(value).split())
    names = sorted(signed)
    return "".join(f"{name}:{signed[name]}\n" for name in names), ";".join(names)


def _signed_host(url: str) -> str:
    """The host as SigV4 signs it: the URL's, with its port unless it is the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        return f"{host}:{parts.port}"
    return host


def _botocore_version() -> str:
    import botocore

    return str(botocore.__version__)
