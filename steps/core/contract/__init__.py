"""The service contract, written once: the table's entities and the client errors.

Everything else is generated from or checked against these two modules:

* :mod:`steps.core.contract.entities`: each item kind of the one DynamoDB table (key templates,
  gsi1 keys, attributes and their types, what ``expires_at`` means). The Python codec
  (:mod:`steps.core.table`), the workflows' DynamoDB Tasks (``cdk/items.py``), the ``GET /v1/me``
  templates and README's data layout come from it; ``tests/test_contract_*.py`` fail when a
  writer (a step, a Task, a template) stores an item it does not describe.
* :mod:`steps.core.contract.errors`: each client error (name → HTTP status, OAuth error code,
  description). The step exceptions (:mod:`steps.core.errors`), the workflows' ``Fail`` causes
  and ``Reject…`` states, the API's gateway responses, the VTL answers and openapi.yaml's error
  list come from it or are checked against it.

**Adding an entity**: add one :class:`~steps.core.contract.entities.Entity` to ``ENTITIES``
(key templates with ``{field}`` placeholders, every attribute with its DynamoDB type, the
required ones, ``ttl`` when ``expires_at`` is set); build its items with ``Entity.item`` (Python)
or ``cdk.items.state_item`` (a workflow's Task), never by hand. README's layout table is checked
against :func:`~steps.core.contract.entities.layout_markdown`: paste its new output there.

**Adding an error**: add one :class:`~steps.core.contract.errors.ErrorSpec` to ``CLIENT_ERRORS``.
A step raises it as a subclass of ``steps.core.errors.ClientError`` named exactly like the spec
(the class name is the Step Functions error name: status, code and a fixed description come
from the spec); a workflow answers it with ``ErrorResponses.from_step(name)`` (the step's
message) or ``ErrorResponses.fixed(state_id, spec)`` (the spec's description). Add its code to
openapi.yaml's ``Error.error`` enum (a test compares them).
"""
