"""CloudFormation in the local cloud: resources moto 5.2.5 creates unlike AWS, or not at all.

1. State machines are created in the executing backend, with their type, logging and tracing
   configuration and ``DefinitionSubstitutions``.
2. A table's ``TimeToLiveSpecification`` is applied.
3. ``AWS::SecretsManager::Secret`` is created (``Ref`` is the ARN, as on AWS).
4. A method with a MOCK integration is accepted without ``IntegrationHttpMethod`` and ``Uri``.

``apply()`` installs these (``patches.apply`` calls it). Tests:
``tests/test_localcloud_patches.py``.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any


def apply() -> None:
    _patch_cloudformation_state_machines()
    _patch_cloudformation_table_ttl()
    _register_cloudformation_secret()
    _patch_cloudformation_mock_methods()


# 1. State machines from CloudFormation ------------------------------------------------------


def _camel_keys(value: Any) -> Any:
    """CloudFormation's PascalCase property shapes → the API's camelCase shapes."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel_keys(item) for item in value]
    return value


def substitute_definition(definition: str, substitutions: dict[str, Any] | None) -> str:
    for key, value in (substitutions or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


def _patch_cloudformation_state_machines() -> None:
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        definition = properties.get("DefinitionString", "")
        if "Definition" in properties:
            definition = json.dumps(properties["Definition"])
        logging = properties.get("LoggingConfiguration")
        tracing = properties.get("TracingConfiguration")
        return get_backend(account_id, region_name).create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=substitute_definition(definition, properties.get("DefinitionSubstitutions")),
            roleArn=properties.get("RoleArn", ""),
            tags=[{"key": tag["Key"], "value": tag["Value"]} for tag in properties.get("Tags", [])],
            loggingConfiguration=_camel_keys(logging) if logging else None,
            tracingConfiguration=_camel_keys(tracing) if tracing else None,
            sm_type=properties.get("StateMachineType", "STANDARD"),
        )

    def delete_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        get_backend(account_id, region_name).delete_state_machine(resource_name)

    StateMachine.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    StateMachine.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)


# 2. Table TTL from CloudFormation -----------------------------------------------------------


def _patch_cloudformation_table_ttl() -> None:
    from moto.dynamodb.models.table import Table

    original = Table.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        table = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        ttl = cloudformation_json["Properties"].get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            table.ttl = {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl["AttributeName"]}
        return table

    Table.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


# 3. Secrets from CloudFormation -------------------------------------------------------------


def _generated_secret(spec: dict[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation
    for excluded in spec.get("ExcludeCharacters", ""):
        alphabet = alphabet.replace(excluded, "")
    length = int(spec.get("PasswordLength", 32))
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template and key:
        document = json.loads(template)
        document[key] = value
        return json.dumps(document)
    return value


_cloudformation_models: list[type] = []


def _register_cloudformation_secret() -> None:
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class CloudFormationSecret(CloudFormationModel):
        """``AWS::SecretsManager::Secret``: Ref is the ARN, as on AWS."""

        def __init__(self, arn: str, name: str) -> None:
            self.arn = arn
            self.name = name

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Id",)

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> CloudFormationSecret:
            properties = cloudformation_json.get("Properties", {})
            name = properties.get("Name", resource_name)
            secret_string = properties.get("SecretString")
            if secret_string is None:
                secret_string = _generated_secret(properties.get("GenerateSecretString", {}))
            backend = secretsmanager_backends[account_id][region_name]
            created = json.loads(
                backend.create_secret(
                    name=name,
                    secret_string=secret_string,
                    secret_binary=None,
                    description=properties.get("Description"),
                    tags=properties.get("Tags"),
                    kms_key_id=properties.get("KmsKeyId"),
                    client_request_token=None,
                    replica_regions=[],
                    force_overwrite=False,
                )
            )
            return cls(created["ARN"], name)

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            backend = secretsmanager_backends[account_id][region_name]
            backend.delete_secret(
                resource_name, recovery_window_in_days=None, force_delete_without_recovery=True
            )

    # moto finds models through __subclasses__(), which holds classes weakly: keep one reference.
    _cloudformation_models.append(CloudFormationSecret)
    parsing.get_model_map.cache_clear()


# 4. MOCK integrations in CloudFormation -----------------------------------------------------------


def _patch_cloudformation_mock_methods() -> None:
    """moto 5.2.5 requires ``IntegrationHttpMethod`` and ``Uri`` on every method's integration;
    a MOCK integration (the discovery documents) has neither, and CloudFormation accepts that.
    The local gateway serves methods from the template, so moto only needs to create them."""
    from moto.apigateway.models import Method

    original = Method.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        integration = properties.get("Integration") or {}
        if integration.get("Type") == "MOCK":
            integration = {"IntegrationHttpMethod": "POST", "Uri": "", **integration}
            properties = {**properties, "Integration": integration}
            cloudformation_json = {**cloudformation_json, "Properties": properties}
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Method.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        create_from_cloudformation_json
    )
