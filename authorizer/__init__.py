"""The API Gateway TOKEN authorizer of the protected routes (``authorizer.handler.handler``).

Small pure modules: ``bearer`` (header checks), ``keys`` (public key cache), ``policy`` (the IAM
policy and context), ``check`` (the decision); ``handler`` is the glue. Shares the token
verification and the table layout with ``steps.core``.
"""
