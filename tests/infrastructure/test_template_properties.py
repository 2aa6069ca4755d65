"""The properties of the packaged template (``make package``, offline) that keep data and work safe.

Every kind of resource the system needs is in the one template; no queue drops what it cannot
process (a dead-letter queue behind each); no bucket is public or unencrypted; the table survives a
bad deployment (on-demand, point-in-time recovery, deletion protection); every function is traced,
and every queue consumer has a bounded concurrency, so a burst is buffered in its queue instead of
reaching DynamoDB or SES all at once (the numbers are in docs/scaling.md).

No IAM statement may allow a wildcard action: tests/infrastructure/test_iam.py
(``test_no_statement_allows_a_wildcard_action``) checks that, with every role's exact grants.
"""
from __future__ import annotations

from typing import Any

import pytest

from tests.infrastructure.test_package import built  # noqa: F401 - the packaged template, built once here

DLQ_RETENTION = 14 * 24 * 3600  # the longest SQS keeps a message: time to notice and re-drive
STAFF_GROUPS = {"admin", "manager", "lead", "agent", "auditor"}


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {n: r.get("Properties") or {} for n, r in template["Resources"].items() if r["Type"] == type_}


def _getatt(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("Fn::GetAtt"), list):
        return value["Fn::GetAtt"][0]
    return None


def _sqs_sources(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(function, consumed queue's logical id, event source properties) for every SQS event source."""
    out = []
    for fn, props in _resources(template, "AWS::Serverless::Function").items():
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "SQS":
                out.append((fn, _getatt(event["Properties"]["Queue"]), event["Properties"]))
    return out


@pytest.fixture(scope="module")
def template(built) -> dict[str, Any]:  # noqa: F811
    return built.template()


# -- every kind of resource, in one template ------------------------------------------------------------
@pytest.mark.parametrize("type_, at_least", [
    ("AWS::Serverless::Api", 1), ("AWS::Serverless::Function", 10), ("AWS::SQS::Queue", 8),
    ("AWS::Events::EventBus", 1), ("AWS::Events::Rule", 4), ("AWS::DynamoDB::Table", 1), ("AWS::S3::Bucket", 4),
    ("AWS::KMS::Key", 2), ("AWS::SES::ReceiptRuleSet", 1), ("AWS::SES::ReceiptRule", 1),
    ("AWS::SES::ConfigurationSet", 1), ("AWS::SES::ConfigurationSetEventDestination", 1), ("AWS::SNS::Topic", 2),
    ("AWS::Cognito::UserPool", 1), ("AWS::Cognito::UserPoolGroup", 5),
])
def test_the_template_creates_every_kind_of_resource_the_system_needs(template, type_, at_least):
    assert len(_resources(template, type_)) >= at_least, type_


def test_the_api_is_throttled_for_the_whole_stage(template):
    (api,) = _resources(template, "AWS::Serverless::Api").values()
    stage_wide = [s for s in api["MethodSettings"] if s["ResourcePath"] == "/*" and s["HttpMethod"] == "*"]
    assert stage_wide and stage_wide[0]["ThrottlingRateLimit"] > 0 and stage_wide[0]["ThrottlingBurstLimit"] > 0


def test_scheduled_jobs_run_on_schedules(template):
    scheduled = {fn for fn, props in _resources(template, "AWS::Serverless::Function").items()
                 if any(e.get("Type") == "Schedule" for e in (props.get("Events") or {}).values())}
    assert {"SweepSla", "PublishPendingEvents", "SendScheduledReports", "AnonymiseExpiredCases"} <= scheduled


def test_the_staff_pool_has_a_group_per_role(template):
    groups = {g["GroupName"] for g in _resources(template, "AWS::Cognito::UserPoolGroup").values()}
    assert groups == STAFF_GROUPS


def test_operators_have_an_alerts_topic_alarms_can_publish_to(template):
    topic = template["Resources"]["OperatorAlerts"]
    assert topic["Type"] == "AWS::SNS::Topic"
    # CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key
    assert "KmsMasterKeyId" not in topic["Properties"]
    assert "OperatorAlertsTopicArn" in template["Outputs"]


def test_email_bounces_and_complaints_go_to_an_encrypted_topic(template):
    (dest,) = _resources(template, "AWS::SES::ConfigurationSetEventDestination").values()
    assert dest["ConfigurationSetName"] == {"Ref": "SesConfigurationSet"}
    event = dest["EventDestination"]
    assert event["Enabled"] and {"bounce", "complaint"} <= set(event["MatchingEventTypes"])
    topic_id = event["SnsDestination"]["TopicARN"]["Ref"]
    topic = template["Resources"][topic_id]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "PiiKey"}  # the notifications name recipients
    ses_may_use_the_key = [s for s in template["Resources"]["PiiKey"]["Properties"]["KeyPolicy"]["Statement"]
                           if s["Principal"] == {"Service": "ses.amazonaws.com"}
                           and {"kms:GenerateDataKey", "kms:Decrypt"} <= set(s["Action"])]
    assert ses_may_use_the_key, "SES could not publish to the encrypted topic"


def test_inbound_mail_is_received_by_an_active_rule_that_stores_it(template):
    (rule,) = _resources(template, "AWS::SES::ReceiptRule").values()
    assert rule["RuleSetName"] == {"Ref": "ReceiptRuleSet"}
    assert rule["Rule"]["Enabled"] and rule["Rule"]["ScanEnabled"]
    assert rule["Rule"]["Actions"][0]["S3Action"]["BucketName"] == {"Ref": "InboundMailBucket"}


# -- queues --------------------------------------------------------------------------------------------------
def test_every_queue_that_is_not_a_dead_letter_queue_redrives_to_one(template):
    queues = _resources(template, "AWS::SQS::Queue")
    dead_letter = {_getatt(q["RedrivePolicy"]["deadLetterTargetArn"]) for q in queues.values() if "RedrivePolicy" in q}
    working = set(queues) - dead_letter
    assert len(working) >= 4 and dead_letter <= set(queues)
    for name in working:
        redrive = queues[name].get("RedrivePolicy")
        assert redrive, f"{name} has no dead-letter queue: a message that keeps failing would be lost"
        assert 1 <= redrive["maxReceiveCount"] <= 10, name
    for name in dead_letter:
        assert queues[name]["MessageRetentionPeriod"] == DLQ_RETENTION, name
        assert "RedrivePolicy" not in queues[name], name
    # one dead-letter queue per working queue: a re-drive moves one step's messages back to that step
    targets = [_getatt(queues[n]["RedrivePolicy"]["deadLetterTargetArn"]) for n in working]
    assert len(targets) == len(set(targets))


def test_every_queue_is_encrypted(template):
    for name, queue in _resources(template, "AWS::SQS::Queue").items():
        assert queue.get("SqsManagedSseEnabled") or queue.get("KmsMasterKeyId"), name


def test_every_queue_has_a_consumer_and_hides_a_message_longer_than_it_takes(template):
    """Lambda refuses an event source whose queue's visibility timeout is below the function's timeout."""
    queues = _resources(template, "AWS::SQS::Queue")
    functions = _resources(template, "AWS::Serverless::Function")
    default_timeout = (template.get("Globals", {}).get("Function") or {}).get("Timeout", 3)
    consumed = set()
    for fn, queue, _ in _sqs_sources(template):
        assert queue in queues, f"{fn} consumes a queue the template does not create"
        consumed.add(queue)
        timeout = functions[fn].get("Timeout", default_timeout)
        assert queues[queue]["VisibilityTimeout"] >= timeout, (fn, queue)
    working = {n for n, q in queues.items() if "RedrivePolicy" in q}
    assert working == consumed, "a working queue nobody consumes, or a consumer of a dead-letter queue"


# -- functions -------------------------------------------------------------------------------------------------
def test_every_function_is_traced(template):
    default = (template.get("Globals", {}).get("Function") or {}).get("Tracing")
    for fn, props in _resources(template, "AWS::Serverless::Function").items():
        assert props.get("Tracing", default) == "Active", fn


def test_every_queue_consumer_has_a_bounded_concurrency(template):
    """A burst waits in the queue instead of opening up to 1,000 concurrent writers to the table or SES
    (the notifier above all: SES refuses what exceeds the account's sending rate)."""
    sources = _sqs_sources(template)
    assert "NotifyCustomer" in {fn for fn, _, _ in sources}
    for fn, _, source in sources:
        maximum = (source.get("ScalingConfig") or {}).get("MaximumConcurrency")
        assert maximum is not None, f"{fn}: no ScalingConfig.MaximumConcurrency on its SQS event source"
        assert 2 <= maximum <= 1000, (fn, maximum)  # what Lambda accepts


def test_the_sla_sweep_runs_alone(template):
    """Two sweeps at once would raise the same warning twice; one is enough, it pages through ByDue."""
    assert template["Resources"]["SweepSla"]["Properties"]["ReservedConcurrentExecutions"] == 1


# -- the table ---------------------------------------------------------------------------------------------------
def test_the_table_is_on_demand_recoverable_and_protected_from_deletion(template):
    (table,) = _resources(template, "AWS::DynamoDB::Table").values()
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["DeletionProtectionEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert all("ProvisionedThroughput" not in g for g in table["GlobalSecondaryIndexes"])


# -- buckets -------------------------------------------------------------------------------------------------------
def test_every_bucket_blocks_public_access_and_is_encrypted(template):
    for name, bucket in _resources(template, "AWS::S3::Bucket").items():
        block = bucket.get("PublicAccessBlockConfiguration") or {}
        assert all(block.get(flag) is True for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                                                        "RestrictPublicBuckets")), name
        rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules and rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256"), name


def test_personal_data_is_encrypted_with_the_pii_key(template):
    for name in ("AttachmentsBucket", "InboundMailBucket"):
        sse = template["Resources"][name]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Ref": "PiiKey"}}


def test_every_bucket_has_a_lifecycle(template):
    for name, bucket in _resources(template, "AWS::S3::Bucket").items():
        rules = (bucket.get("LifecycleConfiguration") or {}).get("Rules") or []
        assert any(r.get("AbortIncompleteMultipartUpload") for r in rules) or \
            any(r.get("ExpirationInDays") for r in rules), f"{name}: nothing ever cleans it up"


def test_versioning_where_an_old_version_matters_and_not_where_erasure_must_be_final(template):
    """Models and rules are what routing decisions cite: every version is kept. Attachments and raw mail
    hold personal data an erasure deletes; a versioned bucket would keep it as a noncurrent version."""
    resources = template["Resources"]
    assert resources["ModelsBucket"]["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"
    for name in ("AttachmentsBucket", "InboundMailBucket"):
        assert "VersioningConfiguration" not in resources[name]["Properties"], name


def test_kms_keys_rotate_where_aws_can_rotate_them(template):
    keys = _resources(template, "AWS::KMS::Key")
    for name, key in keys.items():
        if key.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT":
            assert key.get("EnableKeyRotation") is True, name
