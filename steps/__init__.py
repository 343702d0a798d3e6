"""The Lambda steps of the stepauth workflows: one module per step, each exposing ``handler``.

validate_registration, validate_login, hash_password, verify_password, issue_tokens,
validate_refresh, rotate_refresh_token, validate_logout, end_sessions, disable_user (Step
Functions Task states) and publish_jwks (API Gateway proxy). The logic lives in ``steps.core``.
"""
