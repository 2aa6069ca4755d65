"""Create the resources of ``infra/resources.yaml`` in moto, filling in what moto's CloudFormation
skips or gets wrong (used by the local stack, the tests and the benchmarks).

moto 5.2 gaps handled here:
* ``AWS::KMS::Key`` wants ``KeyPolicy`` as a JSON string (it calls ``json.loads`` on it) and
  ignores ``KeySpec``: keys with a non-default spec (the HMAC look-up key) are removed from the
  template and created through the KMS API instead, their outputs filled from the API's answer.
* ``AWS::SQS::QueuePolicy`` is not supported: only a warning, nothing needed locally.
"""
from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("resources.yaml")
ACCOUNT = "123456789012"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def moto_compatible(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The template moto can create, and the KMS keys to create through the API (logical id → props)."""
    template = copy.deepcopy(template)
    api_keys: dict[str, dict[str, Any]] = {}
    for name, resource in list(template["Resources"].items()):
        if resource["Type"] != "AWS::KMS::Key":
            continue
        props = resource["Properties"]
        if props.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            api_keys[name] = template["Resources"].pop(name)["Properties"]
            continue
        policy = props.get("KeyPolicy") or {"Version": "2012-10-17", "Statement": []}
        for statement in policy.get("Statement", []):
            statement["Principal"] = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
        props["KeyPolicy"] = json.dumps(policy)
    for out_name, output in list(template.get("Outputs", {}).items()):
        if output.get("Value") in ({"Ref": k} for k in api_keys):
            template["Outputs"].pop(out_name)
    return template, api_keys


def create_resources(session: Any = None, *, stack_name: str = "complaints-dev", stage: str = "dev",
                     region: str = "us-east-1") -> dict[str, str]:
    """Create the stack and return its outputs (plus the API-created keys' outputs)."""
    import boto3

    session = session or boto3.session.Session(region_name=region)
    original = load_template()
    template, api_keys = moto_compatible(original)
    cfn = session.client("cloudformation", region_name=region)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template),
                         Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}])
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"local stack creation failed: {stack['StackStatus']} {stack.get('StackStatusReason')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    kms = session.client("kms", region_name=region)
    for name, props in api_keys.items():
        key_id = kms.create_key(KeySpec=props["KeySpec"], KeyUsage=props["KeyUsage"],
                                Description=props.get("Description", name))["KeyMetadata"]["KeyId"]
        for out_name, output in original.get("Outputs", {}).items():
            if output.get("Value") == {"Ref": name}:
                outputs[out_name] = key_id
    return outputs


def environment(outputs: dict[str, str]) -> dict[str, str]:
    """The functions' environment variables for these resources (as the deploy template sets them)."""
    return {
        "TABLE_NAME": outputs["TableName"],
        "ATTACHMENTS_BUCKET": outputs["AttachmentsBucket"],
        "EVENT_BUS_NAME": outputs["EventBusName"],
        "PII_KEY_ID": outputs["PiiKeyId"],
        "LOOKUP_KEY_ID": outputs["LookupKeyId"],
    }
