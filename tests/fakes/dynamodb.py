"""An in-memory DynamoDB client for the unit layer.

Why: ``mock_aws()`` per test patches botocore and every call is serialized, parsed by moto,
answered, serialized again and parsed by botocore; here moto's own DynamoDB response handler
and backend answer each call directly (its expression parser, conditions, transactions, indexes
and errors: nothing restated), and botocore's own parser turns an error into the exception the
client raises (with its modeled fields, e.g. ``CancellationReasons``).
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.errorfactory import BaseClientExceptions, ClientExceptionsFactory
from botocore.model import ServiceModel
from botocore.paginate import Paginator
from botocore.parsers import create_parser
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from werkzeug.exceptions import HTTPException


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def _service_model() -> ServiceModel:
    return _session().get_service_model("dynamodb")


@functools.cache
def _exceptions() -> BaseClientExceptions:
    return ClientExceptionsFactory().create_client_exceptions(_service_model())


@functools.cache
def _operations() -> dict[str, str]:
    """Client method name → operation name (``put_item`` → ``PutItem``), as boto3 names them."""
    return {xform_name(name): name for name in _service_model().operation_names}


class _Handler(DynamoHandler):
    """moto's DynamoDB response handler for one call, given the parameters its request parser
    would have produced (the client's own, for the JSON protocol) and a backend of its own."""

    def __init__(self, backend: DynamoDBBackend, operation: str, params: dict[str, Any]) -> None:
        super().__init__()
        self._backend = backend
        self._operation = operation
        self.params = self.body = params
        self.headers = {"Content-Type": "application/x-amz-json-1.0"}
        self.response_headers = {}
        self.region = backend.region_name
        self.partition = "aws"
        self.current_account = backend.account_id

    @property
    def dynamodb_backend(self) -> DynamoDBBackend:
        return self._backend

    def _get_action(self) -> str:
        return self._operation


class FakeDynamoDB:
    """A low-level DynamoDB client (``put_item``, ``query``, ``get_paginator``, ``exceptions``…)
    over a moto backend of its own: every instance starts empty and none touches moto's globals.

    Each call is atomic (one lock), as a single call is on DynamoDB: moto's backend checks a
    condition and writes in separate Python steps. Requests and answers are copied, as over the
    wire, so no caller shares a dict with the stored items. Answers carry no ResponseMetadata.
    """

    def __init__(self, region: str = "us-east-1", account: str = DEFAULT_ACCOUNT_ID) -> None:
        self.backend = DynamoDBBackend(region, account)
        self.exceptions = _exceptions()
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        operation = _operations().get(name)
        if operation is None:
            raise AttributeError(name)

        def call(**params: Any) -> dict[str, Any]:
            return self._call(operation, params)

        call.__name__ = name
        return call

    def get_paginator(self, name: str) -> Paginator:
        """botocore's own paginator, calling this client."""
        operation = _operations()[name]
        return Paginator(
            getattr(self, name),
            _session().get_paginator_model("dynamodb").get_paginator(operation),
            _service_model().operation_model(operation),
        )

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = _Handler(self.backend, operation, copy.deepcopy(params))
        action = getattr(handler, xform_name(operation))
        try:
            with self._lock:
                answer = copy.deepcopy(action().result)
        except HTTPException as error:  # moto's DynamoDB errors carry their wire body
            raise self._client_error(operation, error) from None
        # What moto's serializer would keep: the members of the operation's output.
        members = _service_model().operation_model(operation).output_shape.members
        return {name: value for name, value in answer.items() if name in members}

    def _client_error(self, operation: str, error: HTTPException) -> Exception:
        """The exception a boto3 client raises for moto's error answer: the modeled fields are
        parsed with the error's own shape, as botocore's endpoint does."""
        parser = create_parser("json")
        response = {
            "status_code": error.code,
            "headers": {},
            "body": str(error.description).encode("utf-8"),
        }
        output_shape = _service_model().operation_model(operation).output_shape
        parsed = parser.parse(response, output_shape)
        code = parsed.get("Error", {}).get("Code", "")
        error_shape = _service_model().shape_for_error_code(code)
        if error_shape is not None:
            parsed.update(parser.parse(response, error_shape))
        return self.exceptions.from_code(code)(parsed, operation)
