"""Least privilege, checked over the packaged template (``make package``, offline).

Each function's role (Chalice makes one per function of ``functions/app.py``) grants exactly what that
function's code uses: the table below says what that is and where in the code it comes from. A
permission granted that is not in the table fails, and so does one in the table that is not granted:
a change to what a function does is a change to this table and to ``infra/merge.yaml``, reviewed
together. No statement anywhere allows a wildcard action, every resource is named (the few AWS
actions that have no resource to name are listed, with why), and every role that may write the
complaints table is denied changing or deleting the audit trail.
"""
from __future__ import annotations

import fnmatch
import json
import re
from typing import Any, Iterator

import pytest

from infra import package
from tests.infrastructure.test_package import built  # noqa: F401 - the packaged template, built once here

Grants = dict[str, set[str]]  # resource (normalised, see _resource) -> actions

# -- what every function gets ---------------------------------------------------------------------------
TABLE_WRITES = {"dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
EVERY_FUNCTION: Grants = {
    # every step reads and writes cases, timelines, counters, configuration... on the one table
    # (TransactWriteItems is authorised as the Put/Update/Delete it carries)
    "ComplaintsTable": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"} | TABLE_WRITES,
    "ComplaintsTable/index/*": {"dynamodb:Query"},
    # Lambda writes the function's logs to its log group, which the template creates (no CreateLogGroup)
    "logs:log-group:/aws/lambda/*": {"logs:CreateLogStream", "logs:PutLogEvents"},
    "*": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},  # config.json: "xray": true
}
SQS_CONSUMER = set(package.SQS_CONSUMER_ACTIONS)
EMAIL = {"ses:SendEmail", "ses:SendRawEmail"}
SES_RESOURCES = ("ses:identity/${SenderAddress}", "ses:identity/${Domain}",
                 "ses:configuration-set/${SesConfigurationSet}")

# -- what each function uses on top (Chalice's logical names) ---------------------------------------------
EXPECTED: dict[str, Grants] = {
    # every route of app.py
    "APIHandler": {
        "EventBus": {"events:PutEvents"},  # ComplaintReceived, CaseEvent, ComplaintClassified (triage)...
        # contact data and idempotent tracking tokens (shared/crypto.py FieldCipher); attachments and raw
        # mail are SSE-KMS with this key, read and written through presigned links this role signs
        "PiiKey": {"kms:GenerateDataKey", "kms:Decrypt"},
        "LookupKey": {"kms:GenerateMac"},  # customer look-ups, rate limits, privacy subjects
        # functions/intake/api.py presigned upload, functions/staff/views.py download links,
        # shared/privacy_store.py erasure
        "AttachmentsBucket/attachments/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        # functions/staff/quarantine.py raw-message link; erasure deletes a person's raw mail
        "InboundMailBucket/inbound/*": {"s3:GetObject", "s3:DeleteObject"},
        # POST /staff/quarantine/{id}/redrive; GET /health reads its attributes (functions/health)
        "EmailIntakeQueue": {"sqs:SendMessage", "sqs:GetQueueAttributes"},
        # GET /health: HeadBucket (s3:ListBucket on the bucket itself, no object)
        "AttachmentsBucket": {"s3:ListBucket"},
        "InboundMailBucket": {"s3:ListBucket"},
        "ReportsBucket": {"s3:ListBucket"},
        # functions/reports/storage.py exports, shared/privacy_store.py data-subject exports
        "ReportsBucket/exports/*": {"s3:GetObject", "s3:PutObject"},
        # shared/challenge.py: the challenge provider's secret (CHALLENGE_PROVIDER=turnstile)
        "secretsmanager:secret:complaints/${Stage}/challenge-*": {"secretsmanager:GetSecretValue"},
    },
    # functions/intake/mail_handler.py: raw mail -> complaints, replies, quarantine
    "TakeInEmail": {
        "EmailIntakeQueue": SQS_CONSUMER,
        "EventBus": {"events:PutEvents"},
        "PiiKey": {"kms:GenerateDataKey", "kms:Decrypt"},  # contact data; the SSE-KMS raw mail and attachments
        "LookupKey": {"kms:GenerateMac"},  # the sender's cases, new customers' look-up hashes
        "InboundMailBucket/inbound/*": {"s3:GetObject"},
        "AttachmentsBucket/attachments/*": {"s3:GetObject", "s3:PutObject"},  # HeadObject needs GetObject
    },
    # functions/notifier/handlers.py
    "NotifyCustomer": {
        "NotifierQueue": SQS_CONSUMER,  # ChangeMessageVisibility: quiet hours (functions/notifier/redelivery.py)
        "PiiKey": {"kms:Decrypt"},  # the customer's and staff's contact data, read only
        **{r: EMAIL for r in SES_RESOURCES},  # sesv2 SendEmail (functions/notifier/channels.py)
        "*": {"sns:Publish", "ses:GetSendQuota"},  # SMS to a phone number; the send quota (WILDCARD_RESOURCES)
        "secretsmanager:secret:complaints/${Stage}/*": {"secretsmanager:GetSecretValue"},  # webhook signing
    },
    # functions/router/handlers.py: classifier model and priority rules from MODEL_URI / PRIORITY_RULES_URI
    "RouteComplaint": {
        "RouterQueue": SQS_CONSUMER,
        "EventBus": {"events:PutEvents"},
        "ModelsBucket/*": {"s3:GetObject"},
    },
    "AssignComplaint": {"AssignmentQueue": SQS_CONSUMER, "EventBus": {"events:PutEvents"}},  # shared/assignment.py
    "SweepSla": {"EventBus": {"events:PutEvents"}},  # functions/router/sweep.py: StaffAlertRaised, re-drives
    "PublishPendingEvents": {"EventBus": {"events:PutEvents"}},  # functions/intake/outbox.py
    "DetectRootCauses": {"EventBus": {"events:PutEvents"}},  # functions/reports/root_cause_job.py
    # functions/reports/schedule.py: report emails, large exports behind presigned links
    "SendScheduledReports": {
        "ReportsBucket/exports/*": {"s3:GetObject", "s3:PutObject"},
        **{r: EMAIL for r in SES_RESOURCES},
    },
    # functions/staff/privacy.py follow_up / retain (shared/privacy.py PrivacyDesk): erasure reads the
    # contact data it redacts from free text, then deletes the person's files
    "FollowUpPrivacyRequests": {
        "PiiKey": {"kms:Decrypt"},
        "AttachmentsBucket/attachments/*": {"s3:DeleteObject"},
        "InboundMailBucket/inbound/*": {"s3:DeleteObject"},
    },
    "AnonymiseExpiredCases": {
        "PiiKey": {"kms:Decrypt"},
        "AttachmentsBucket/attachments/*": {"s3:DeleteObject"},
        "InboundMailBucket/inbound/*": {"s3:DeleteObject"},
    },
}

# Actions AWS authorises on no resource ARN, so an identity policy must say Resource "*".
WILDCARD_RESOURCES = {
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions",
    "sns:Publish": "an SMS to a phone number has no topic ARN; limited to the region by a condition, "
                   "and to the notifier's role",
    "ses:GetSendQuota": "the account's sending quota has no resource (functions/notifier/pacing.py)",
}
# Key policies: the account's administration statement (the default key policy, which hands access
# control to IAM) is the one wildcard action a template may hold; its Resource "*" means the key itself.
KEY_POLICY_ADMIN = "kms:*"


# -- reading the template ----------------------------------------------------------------------------------
def _resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in _resources(template).items()
            if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource(value: Any) -> str:
    """A statement's resource as the table writes it: ``Bucket/prefix/*``, ``Queue``, ``ses:identity/...``."""
    if value == "*":
        return "*"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        name, attr = value["Fn::GetAtt"]
        assert attr == "Arn", value
        return name
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text = sub[0] if isinstance(sub, list) else sub
        m = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.*)?", text)
        if m:
            return m.group(1) + (m.group(2) or "")
        m = re.fullmatch(r"arn:\$\{AWS::Partition\}:(\w+):\$\{AWS::Region\}:\$\{AWS::AccountId\}:(.+)", text)
        assert m, f"resource not scoped to this partition, region and account: {text}"
        return f"{m.group(1)}:{m.group(2)}"
    raise AssertionError(f"resource neither a reference to this template nor this account's ARN: {value!r}")


def _documents(template: dict[str, Any], role: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(policy name, document) of every policy that applies to ``role``."""
    resources = _resources(template)
    props = resources[role]["Properties"]
    for policy in props.get("Policies") or []:
        yield f"{role}/{policy['PolicyName']}", policy["PolicyDocument"]
    managed = {ref["Ref"] for ref in props.get("ManagedPolicyArns") or []}
    for name, res in resources.items():
        if res["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            roles = res["Properties"].get("Roles") or []
            if name in managed or {"Ref": role} in roles:
                yield name, res["Properties"]["PolicyDocument"]
    outside = managed - set(resources)
    assert not outside, f"{role}: managed policies from outside the template: {outside}"


def _statements(template: dict[str, Any], role: str, effect: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, document in _documents(template, role):
        for statement in _as_list(document["Statement"]):
            if statement["Effect"] == effect:
                yield name, statement


def _grants(template: dict[str, Any], role: str) -> Grants:
    out: Grants = {}
    for _, statement in _statements(template, role, "Allow"):
        for resource in _as_list(statement["Resource"]):
            out.setdefault(_resource(resource), set()).update(_as_list(statement["Action"]))
    return out


def _role(template: dict[str, Any], function: str) -> str:
    return _functions(template)[function]["Properties"]["Role"]["Fn::GetAtt"][0]


def _expected(function: str) -> Grants:
    out: Grants = {k: set(v) for k, v in EVERY_FUNCTION.items()}
    for resource, actions in EXPECTED[function].items():
        out.setdefault(resource, set()).update(actions)
    return out


def _every_policy_document(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Identity and resource policies alike."""
    for name, res in _resources(template).items():
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::IAM::Role":
            yield f"{name} (trust)", props["AssumeRolePolicyDocument"]
            for policy in props.get("Policies") or []:
                yield f"{name}/{policy['PolicyName']}", policy["PolicyDocument"]
        for key in ("PolicyDocument", "KeyPolicy"):
            if isinstance(props.get(key), dict):
                yield f"{name}.{key}", props[key]


# -- the tests ---------------------------------------------------------------------------------------------
def test_every_function_has_a_row_in_the_table(built):  # noqa: F811
    functions = set(_functions(built.template()))
    assert functions - set(EXPECTED) == set(), (
        "functions without a row in EXPECTED: say what they use (and grant it in infra/merge.yaml)")
    assert set(EXPECTED) - functions == set(), "rows for functions app.py no longer declares"


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_the_role_grants_exactly_what_the_function_uses(built, function):  # noqa: F811
    template = built.template()
    granted = _grants(template, _role(template, function))
    expected = _expected(function)
    extra = {r: sorted(a - expected.get(r, set())) for r, a in granted.items() if a - expected.get(r, set())}
    missing = {r: sorted(a - granted.get(r, set())) for r, a in expected.items() if a - granted.get(r, set())}
    assert not extra, f"{function} may do more than its code uses: {extra}"
    assert not missing, f"{function} lacks what its code uses: {missing}"


def test_no_statement_allows_a_wildcard_action(built):  # noqa: F811
    found = []
    for name, document in _every_policy_document(built.template()):
        for statement in _as_list(document["Statement"]):
            for action in _as_list(statement.get("Action", [])) + _as_list(statement.get("NotAction", [])):
                if "*" not in action:
                    continue
                if name.endswith(".KeyPolicy") and action == KEY_POLICY_ADMIN and statement["Effect"] == "Allow" \
                        and statement["Sid"] == "AccountAdministers" and "Condition" not in statement:
                    principal = json.dumps(statement["Principal"])
                    assert ":root" in principal, f"{name}: kms:* for another principal than the account: {principal}"
                    continue
                found.append((name, action))
    assert not found, f"wildcard actions: {found}"


def test_every_resource_is_named_except_where_aws_has_none(built):  # noqa: F811
    template = built.template()
    for function in _functions(template):
        role = _role(template, function)
        for name, statement in _statements(template, role, "Allow"):
            resources = [_resource(r) for r in _as_list(statement["Resource"])]  # asserts the scope
            if "*" in resources:
                unexplained = set(_as_list(statement["Action"])) - set(WILDCARD_RESOURCES)
                assert not unexplained, f"{name}: Resource '*' for {sorted(unexplained)}"
            assert "NotResource" not in statement and "NotAction" not in statement, name


def test_sms_to_any_number_is_limited_to_the_region_and_the_notifier(built):  # noqa: F811
    template = built.template()
    having = []
    for function in _functions(template):
        for name, statement in _statements(template, _role(template, function), "Allow"):
            if "sns:Publish" in _as_list(statement["Action"]):
                having.append(function)
                assert statement["Condition"]["StringEquals"]["aws:RequestedRegion"] == {"Ref": "AWS::Region"}
    assert having == ["NotifyCustomer"]


def test_every_role_that_writes_the_table_may_not_change_or_delete_the_audit_trail(built):  # noqa: F811
    from shared import audit

    partition = audit._partition("C-20250101-0001")  # what shared/audit.py writes: AUDIT#<case>
    template = built.template()
    writers = 0
    for function in _functions(template):
        role = _role(template, function)
        if not TABLE_WRITES & _grants(template, role).get("ComplaintsTable", set()):
            continue
        writers += 1
        denies = [s for _, s in _statements(template, role, "Deny")
                  if "ComplaintsTable" in [_resource(r) for r in _as_list(s["Resource"])]]
        assert denies, f"{function} may write the table and is not denied changing the audit trail"
        [deny] = denies
        actions = set(_as_list(deny["Action"]))
        assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} <= actions
        assert "dynamodb:PutItem" not in actions, "records are appended with PutItem: it must stay allowed"
        patterns = _as_list(deny["Condition"]["ForAnyValue:StringLike"]["dynamodb:LeadingKeys"])
        assert any(fnmatch.fnmatchcase(partition, p) for p in patterns), (patterns, partition)
        # nothing else: cases, counters and the rest stay writable
        assert not any(fnmatch.fnmatchcase(pk, p) for p in patterns for pk in ("CASE#C-1", "STATS#2025-01-01"))
    assert writers == len(_functions(template))


def test_logs_go_to_log_groups_the_template_creates(built):  # noqa: F811
    """No role may create log groups, so each function's group must come with the template
    (``log_retention_in_days`` in functions/.chalice/config.json makes Chalice declare them)."""
    resources = _resources(built.template())
    groups = {r["Properties"]["LogGroupName"]["Fn::Sub"] for r in resources.values()
              if r["Type"] == "AWS::Logs::LogGroup"}
    for function in _functions(built.template()):
        assert f"/aws/lambda/${{{function}}}" in groups, function


def test_a_policy_attached_to_a_function_app_py_does_not_declare_fails_the_build(built):  # noqa: F811
    template = built.template()
    template["Resources"]["RouterPolicy"]["Metadata"]["AttachTo"] = ["RouteComplaints"]  # a typo
    with pytest.raises(package.PackagingError, match="RouteComplaints"):
        package.post_process(template, "dev")
