"""Validation of the registration and login requests (the first step of each workflow)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.clients import CLIENT_FIELDS, client_request
from steps.core.config import Config, get_config
from steps.core.emails import normalise_email
from steps.core.errors import InvalidRequest
from steps.core.password_policy import (
    check_password_policy,
    context_words_for,
    normalise_login_password,
)

NAME_MAX_LENGTH = 100
REGISTRATION_FIELDS = ("email", "password", "name", *CLIENT_FIELDS)
LOGIN_FIELDS = ("email", "password", *CLIENT_FIELDS)


def _check_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    if any(key not in allowed for key in body):
        listed = ", ".join(allowed[:-1]) + " and " + allowed[-1]
        raise InvalidRequest(f"The request body has an unknown field; the fields are {listed}.")


def _email(body: Mapping[str, Any]) -> str:
    if body.get("email") is None or body.get("email") == "":
        raise InvalidRequest("email is required.")
    return normalise_email(body["email"])


def _name(body: Mapping[str, Any]) -> str:
    raw = body.get("name")
    if raw is None:
        return ""
    message = f"name must be a string of at most {NAME_MAX_LENGTH} characters."
    if not isinstance(raw, str):
        raise InvalidRequest(message)
    name = raw.strip()
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidRequest(message)
    if not name.isprintable():
        raise InvalidRequest("name must not contain control characters or line breaks.")
    return name


def validate_registration(event: Any, *, config: Config | None = None) -> dict[str, Any]:
    """Check a registration request; return the normalised registration and request context."""
    cfg = config or get_config()
    body = read_json_body(event, max_body_bytes=cfg.max_body_bytes)
    context = request_context(event)
    _check_fields(body, REGISTRATION_FIELDS)
    email = _email(body)
    name = _name(body)
    password = check_password_policy(
        body.get("password"), context_words=context_words_for(email), config=cfg
    )
    return {
        "registration": {"email": email, "password": password, "name": name},
        "context": {**context, **client_request(body, cfg)},
    }


def validate_login(event: Any, *, config: Config | None = None) -> dict[str, Any]:
    """Check a login request's shape (no strength policy); return the credentials and context."""
    cfg = config or get_config()
    body = read_json_body(event, max_body_bytes=cfg.max_body_bytes)
    context = request_context(event)
    _check_fields(body, LOGIN_FIELDS)
    email = _email(body)
    password = normalise_login_password(body.get("password"), config=cfg)
    return {
        "credentials": {"email": email, "password": password},
        "context": {**context, **client_request(body, cfg)},
    }
