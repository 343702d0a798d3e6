"""The Lambda steps of the stepauth workflows: one module per step, each exposing ``handler``.

validate_registration, validate_login, hash_password, verify_password, issue_tokens (Step
Functions Task states) and publish_jwks (API Gateway proxy). The logic lives in ``steps.core``.
"""
