"""The Lambda steps of the stepauth workflows: one module per step, each exposing ``handler``.

validate_registration, validate_login, hash_password, verify_password, issue_tokens,
validate_refresh, rotate_refresh_token, validate_logout, end_sessions, disable_user,
delete_account, list_sessions, end_session (Step Functions Task states), publish_jwks (API
Gateway proxy) and stream_cleanup (the table's DynamoDB stream). The logic lives in
``steps.core``.
"""
