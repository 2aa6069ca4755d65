"""The analytics export in the packaged template (``make package``, offline): docs/analytics.md.

Case changes leave the table through one EventBridge pipe (its stream -> a Firehose delivery stream ->
Parquet in S3 by day -> a Glue table Athena queries). What a very large tenant's analysts may read is
what the pipe's input template picks from the item: these tests hold it to the case fields that are no
one's personal data, and check that every picked field is a column of the Glue table (Firehose's Parquet
conversion silently drops a field the schema does not name) and that every column is fed.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infrastructure.test_package import built  # noqa: F401 - the packaged template, built once here

# Attributes of the case item (docs/data-model.md) that identify or describe a person, or are free text
PERSONAL = {"customer", "customer_enc", "contact_hashes", "tracking_token_hashes", "preferred_language", "email",
            "phone", "name", "member_id", "title", "description", "expected_resolution", "attachments",
            "classification", "routing", "assignee", "plan", "tasks", "feedback.comment", "feedback.handler",
            "product.order_id", "product.name", "cluster_id"}
PLACEHOLDER = re.compile(r"<(\$[^>]*)>")


@pytest.fixture(scope="module")
def resources(built) -> dict[str, Any]:  # noqa: F811
    return built.template()["Resources"]


def _one(resources: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    found = [(n, r["Properties"]) for n, r in resources.items() if r["Type"] == type_]
    assert len(found) == 1, (type_, [n for n, _ in found])
    return found[0]


def _template_fields(pipe: dict[str, Any]) -> dict[str, str]:
    """The pipe's output: JSON key -> the JSON path it is read from."""
    template = pipe["TargetParameters"]["InputTemplate"]
    paths = PLACEHOLDER.findall(template)
    keys = json.loads(PLACEHOLDER.sub("null", template))  # a placeholder stands for one JSON value
    assert len(paths) == len(keys), "one placeholder per field"
    return dict(zip(keys, paths))


def _image_attribute(path: str) -> str:
    """``$.dynamodb.NewImage.product.M.sku.S`` -> ``product.sku`` (the item's attribute, type tags dropped)."""
    parts = path.split(".")[3:]
    return ".".join(p for p in parts if p not in ("S", "N", "BOOL", "M", "L"))


def test_the_pipe_reads_case_changes_from_the_table_stream_into_the_delivery_stream(resources):
    _, pipe = _one(resources, "AWS::Pipes::Pipe")
    assert pipe["Source"] == {"Fn::GetAtt": ["ComplaintsTable", "StreamArn"]}
    stream_name, _ = _one(resources, "AWS::KinesisFirehose::DeliveryStream")
    assert pipe["Target"] == {"Fn::GetAtt": [stream_name, "Arn"]}
    (only,) = pipe["SourceParameters"]["FilterCriteria"]["Filters"]
    pattern = json.loads(only["Pattern"])
    assert pattern["dynamodb"]["Keys"]["SK"] == {"S": ["CASE"]}, "timeline entries, indexes... stay out"
    assert set(pattern["eventName"]) == {"INSERT", "MODIFY"}  # a REMOVE has no new image to export
    assert resources["ComplaintsTable"]["Properties"]["StreamSpecification"]["StreamViewType"] in (
        "NEW_IMAGE", "NEW_AND_OLD_IMAGES")


def test_only_non_personal_case_fields_leave_the_table(resources):
    _, pipe = _one(resources, "AWS::Pipes::Pipe")
    fields = _template_fields(pipe)
    read = {_image_attribute(p) for p in fields.values() if p.startswith("$.dynamodb.NewImage.")}
    others = {p for p in fields.values() if not p.startswith("$.dynamodb.NewImage.")}
    assert others == {"$.eventName"}
    assert {"complaint_id", "status", "channel", "received_at", "category", "department", "product.batch",
            "resolved_at", "closed_at", "feedback.rating", "clocks"} <= read
    leaked = {a for a in read if a in PERSONAL or a.split(".")[0] in PERSONAL}
    assert not leaked, f"personal data or free text would reach the analytics bucket: {sorted(leaked)}"
    assert "<aws.pipes.event" not in pipe["TargetParameters"]["InputTemplate"], "the whole event would go"


def test_the_glue_table_has_a_column_for_every_exported_field_and_no_personal_column(resources):
    _, pipe = _one(resources, "AWS::Pipes::Pipe")
    _, table = _one(resources, "AWS::Glue::Table")
    columns = {c["Name"]: c["Type"] for c in table["TableInput"]["StorageDescriptor"]["Columns"]}
    assert set(columns) == set(_template_fields(pipe)), "a field the schema does not name is dropped, " \
                                                        "a column nothing feeds is always null"
    for name, type_ in columns.items():
        words = set(re.split(r"[^a-z]+", f"{name} {type_}".lower()))
        assert not words & {"customer", "email", "phone", "contact", "hashes", "tracking", "member", "description",
                            "title", "assignee", "handler"}, (name, type_)
    assert not set(columns) & PERSONAL


def test_firehose_writes_parquet_by_day_with_the_glue_schema(resources):
    _, stream = _one(resources, "AWS::KinesisFirehose::DeliveryStream")
    table_name, table = _one(resources, "AWS::Glue::Table")
    s3 = stream["ExtendedS3DestinationConfiguration"]
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    assert conversion["SchemaConfiguration"]["TableName"] == {"Ref": table_name}
    assert s3["BufferingHints"]["SizeInMBs"] >= 64, "Firehose refuses format conversion below 64 MB buffers"
    assert s3["Prefix"] == "cases/dt=!{timestamp:yyyy-MM-dd}/"
    assert s3["ErrorOutputPrefix"].startswith("errors/")
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"]
    # the table reads the same day folders, without a crawler
    params = table["TableInput"]["Parameters"]
    assert [k["Name"] for k in table["TableInput"]["PartitionKeys"]] == ["dt"]
    assert params["projection.enabled"] == "true" and params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["storage.location.template"]["Fn::Sub"].endswith("/cases/dt=${!dt}/")
    assert table["TableInput"]["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")


def test_the_analytics_bucket_is_private_encrypted_and_cleans_up_after_itself(resources):
    bucket = resources["AnalyticsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"][flag] is True for flag in (
        "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] in ("AES256", "aws:kms")
    rules = {r.get("Prefix"): r for r in bucket["LifecycleConfiguration"]["Rules"]}
    # a raw DynamoDB export (personal data included) for a backfill never lingers
    assert rules["backfill/"]["ExpirationInDays"] <= 7
    assert rules["errors/"]["ExpirationInDays"] and rules["athena-results/"]["ExpirationInDays"]
    assert "ExpirationInDays" not in rules["cases/"], "years of history are the point"
    _, workgroup = _one(resources, "AWS::Athena::WorkGroup")
    config = workgroup["WorkGroupConfiguration"]
    assert config["ResultConfiguration"]["OutputLocation"]["Fn::Sub"].startswith("s3://${AnalyticsBucket}/athena-results/")
    assert config["EnforceWorkGroupConfiguration"] is True and config["BytesScannedCutoffPerQuery"] > 0


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_the_pipe_and_firehose_roles_grant_only_their_part(resources):
    _, pipe = _one(resources, "AWS::Pipes::Pipe")
    _, stream = _one(resources, "AWS::KinesisFirehose::DeliveryStream")
    pipe_role = resources[pipe["RoleArn"]["Fn::GetAtt"][0]]
    delivery_role = resources[stream["ExtendedS3DestinationConfiguration"]["RoleARN"]["Fn::GetAtt"][0]]
    assert pipe_role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "pipes.amazonaws.com"}
    assert delivery_role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "firehose.amazonaws.com"}
    pipe_actions = {a for s in _statements(pipe_role) for a in s["Action"]}
    assert pipe_actions == {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                            "dynamodb:ListStreams", "firehose:PutRecord", "firehose:PutRecordBatch"}
    for role in (pipe_role, delivery_role):
        for statement in _statements(role):
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in a for a in actions)
            assert "*" not in json.dumps(statement["Resource"]).replace("/*", ""), statement["Sid"]
            assert not any(a.startswith(("kms:", "dynamodb:PutItem", "dynamodb:Query")) for a in actions)
    object_writes = [s for s in _statements(delivery_role) if "s3:PutObject" in s["Action"]]
    (writes,) = object_writes
    assert {r["Fn::Sub"] for r in writes["Resource"]} == {"${AnalyticsBucket.Arn}/cases/*",
                                                          "${AnalyticsBucket.Arn}/errors/*"}


def test_operators_hear_when_the_export_falls_behind(resources):
    alarm = resources["AnalyticsDeliveryLateAlarm"]["Properties"]
    stream_name, _ = _one(resources, "AWS::KinesisFirehose::DeliveryStream")
    assert alarm["Namespace"] == "AWS/Firehose" and alarm["MetricName"] == "DeliveryToS3.DataFreshness"
    assert alarm["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": {"Ref": stream_name}}]
    assert alarm["AlarmActions"] == [{"Ref": "OperatorAlerts"}]
