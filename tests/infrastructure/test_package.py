"""`make package` offline: the zip holds the code as Lambda will import it, and the merged template
carries every resource, the functions' environment and permissions, and passes cfn-lint.

Everything is built from a temporary copy of the Chalice project (``staging``) with empty
requirements, so the test needs no network and leaves nothing in ``functions/``.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from infra import package

# An SQS consumer appended to a copy of app.py, so the SQS post-processing is exercised whether or
# not app.py has one yet. Its queue is the router queue of resources.yaml.
SQS_PROBE = '''

@app.on_sqs_message(queue="complaints-dev-router", batch_size=5)
def package_test_probe(event):
    return None
'''


GENERATED_IN_FUNCTIONS = ("vendor", "requirements.txt", ".chalice/deployments")


def _snapshot() -> dict[str, float | None]:
    paths = {name: package.FUNCTIONS / name for name in GENERATED_IN_FUNCTIONS}
    return {name: (p.stat().st_mtime if p.exists() else None) for name, p in paths.items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> package.Package:
    tmp = tmp_path_factory.mktemp("package")
    before = _snapshot()
    pkg = package.build(tmp / "out", no_deps=True, staging=tmp / "project", quiet=True)
    assert _snapshot() == before, "packaging for a test wrote into functions/"
    return pkg


@pytest.fixture(scope="module")
def built_with_queue(tmp_path_factory) -> package.Package:
    return _build_variant(tmp_path_factory.mktemp("package-sqs"), SQS_PROBE, "dev")


STAGED_QUEUE_PROBE = '''

import os


@app.on_sqs_message(queue=f"complaints-{os.environ.get('STAGE', 'dev')}-router")
def package_test_probe(event):
    return None
'''


def _build_variant(tmp: Path, probe: str, stage: str) -> package.Package:
    app_source = tmp / "app.py"
    app_source.write_text((package.FUNCTIONS / "app.py").read_text(encoding="utf-8") + probe, encoding="utf-8")
    return package.build(tmp / "out", stage=stage, no_deps=True, staging=tmp / "project", app_source=app_source,
                         quiet=True)


def _functions(template):
    return {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


# -- the zip ---------------------------------------------------------------------------------
def test_zip_holds_app_steps_and_shared_at_its_root(built):
    names = set(zipfile.ZipFile(built.zip_path).namelist())
    for expected in ("app.py", "chalice/app.py", "functions/__init__.py", "functions/intake/__init__.py",
                     "functions/intake/api.py", "functions/intake/service.py", "functions/staff/api.py",
                     "shared/__init__.py", "shared/models.py", "shared/repository.py", "shared/config.py",
                     "functions/audit_scope.py"):  # a module app.py's middleware imports, beside the packages
        assert expected in names, expected
    # static assets of the form pages travel with the package (symlinked directories are followed)
    assert any(n.startswith("functions/intake/web/") for n in names)
    assert not [n for n in names if n.startswith(("vendor/", "tests/", ".venv/", "infra/", ".chalice/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_every_step_package_is_in_the_zip(built):
    names = set(zipfile.ZipFile(built.zip_path).namelist())
    steps = package.step_packages()
    assert {"intake", "staff"} <= set(steps)
    for step in steps:
        for source in (package.FUNCTIONS / step).rglob("*.py"):
            if "__pycache__" not in source.parts:
                assert source.relative_to(package.FUNCTIONS.parent).as_posix() in names


def test_staged_project_links_the_sources(built):
    staged = built.out_dir.parent / "project"
    assert (staged / "vendor" / "functions" / "intake").is_symlink()
    assert (staged / "vendor" / "shared").is_symlink()
    assert (staged / "requirements.txt").read_text().strip().startswith("#")  # --no-deps: comments only


def test_runtime_requirements_are_pinned_and_leave_out_what_lambda_ships():
    lines = package.runtime_requirements()
    names = {line.split("[")[0].split("=")[0].lower() for line in lines}
    assert "pydantic" in names and "aws-lambda-powertools" in names
    assert not names & {"boto3", "botocore", "chalice"}
    assert all("==" in line for line in lines)


# -- the template ---------------------------------------------------------------------------------
def test_template_has_every_resource_of_resources_yaml(built):
    resources = built.template()["Resources"]
    for name, resource in package.load_yaml(package.RESOURCES)["Resources"].items():
        assert resources[name]["Type"] == resource["Type"]
    table = resources["ComplaintsTable"]["Properties"]
    assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} >= {"ByStatus", "ByChannel", "ByMonth",
                                                                      "PendingEvents"}
    assert resources["EventBus"]["Type"] == "AWS::Events::EventBus"
    assert resources["ComplaintReceivedToRouter"]["Properties"]["Targets"][0]["Arn"] == \
        {"Fn::GetAtt": ["RouterQueue", "Arn"]}
    assert resources["RouterQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == \
        {"Fn::GetAtt": ["RouterDeadLetterQueue", "Arn"]}
    assert resources["PiiKey"]["Type"] == resources["LookupKey"]["Type"] == "AWS::KMS::Key"
    assert resources["LookupKey"]["Properties"]["KeySpec"] == "HMAC_256"


def test_stage_parameter_is_tied_to_the_packaged_stage(built):
    stage = built.template()["Parameters"]["Stage"]
    assert stage["Default"] == "dev" and stage["AllowedValues"] == ["dev"]


def test_functions_get_resource_environment_from_globals(built):
    template = built.template()
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Ref": "ComplaintsTable"}
    assert env["ATTACHMENTS_BUCKET"] == {"Ref": "AttachmentsBucket"}
    assert env["EVENT_BUS_NAME"] == {"Fn::Sub": "complaints-${Stage}"}
    assert env["PII_KEY_ID"] == {"Ref": "PiiKey"}
    assert env["LOOKUP_KEY_ID"] == {"Ref": "LookupKey"}
    assert env["JWKS_URL"]["Fn::Sub"].endswith("${StaffUserPool}/.well-known/jwks.json")
    assert env["JWT_ISSUER"] == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${StaffUserPool}"}
    functions = _functions(template)
    assert {"APIHandler", "PublishPendingEvents"} <= set(functions)
    for fn in functions.values():
        own = fn["Properties"]["Environment"]["Variables"]  # from .chalice/config.json
        assert own["STAGE"] == "dev" and own["POWERTOOLS_SERVICE_NAME"] == "complaints-service"
        assert fn["Properties"]["Tracing"] == "Active"


def test_cognito_pool_has_a_group_per_staff_role(built):
    from shared.auth import ROLES

    resources = built.template()["Resources"]
    assert resources["StaffUserPool"]["Type"] == "AWS::Cognito::UserPool"
    groups = {r["Properties"]["GroupName"] for r in resources.values() if r["Type"] == "AWS::Cognito::UserPoolGroup"}
    assert groups == set(ROLES)
    assert "custom:departments" not in resources["StaffUserPoolClient"]["Properties"]["WriteAttributes"]


def test_every_function_role_gets_the_least_privilege_policy(built):
    template = built.template()
    resources = template["Resources"]
    statements = {s["Sid"]: s for s in resources["FunctionResourcesPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    for statement in statements.values():  # every statement names its resources
        resources_of = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert "*" not in resources_of
    assert {"Fn::Sub": "${ComplaintsTable.Arn}/index/*"} in statements["ComplaintsTableIndexes"]["Resource"]
    # the keys go to the functions that use them (tests/infrastructure/test_iam.py checks every role)
    api = {s["Sid"]: s for s in resources["ApiPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    assert api["EncryptContactData"]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert api["DeriveLookupHashes"]["Action"] == "kms:GenerateMac"
    for name, fn in _functions(template).items():
        role = resources[fn["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert {"Ref": "FunctionResourcesPolicy"} in role["ManagedPolicyArns"], name
        actions = json.dumps(role["Policies"])
        assert "logs:PutLogEvents" in actions and "xray:PutTraceSegments" in actions


def test_log_groups_refer_to_existing_functions(built):
    resources = built.template()["Resources"]
    for resource in resources.values():
        if resource["Type"] == "AWS::Logs::LogGroup":
            target = resource["Properties"]["LogGroupName"]["Fn::Sub"].split("${")[1].rstrip("}")
            assert target in resources


@pytest.mark.parametrize("variant", ["built", "built_with_queue"])
def test_sqs_event_sources_report_batch_item_failures(variant, request):
    template = request.getfixturevalue(variant).template()
    seen = 0
    for fn in _functions(template).values():
        for event in (fn["Properties"].get("Events") or {}).values():
            if event["Type"] == "SQS":
                seen += 1
                assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    if variant == "built_with_queue":
        assert seen >= 1


def test_sqs_consumer_reads_its_queue_by_reference_with_its_own_permission(built_with_queue):
    template = built_with_queue.template()
    fn = template["Resources"]["PackageTestProbe"]["Properties"]
    event = next(iter(fn["Events"].values()))
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["RouterQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 5
    role = template["Resources"][fn["Role"]["Fn::GetAtt"][0]]["Properties"]
    consume = [p for p in role["Policies"] if p["PolicyName"].endswith("Consume")]
    assert consume and consume[0]["PolicyDocument"]["Statement"][0]["Resource"] == {"Fn::GetAtt": ["RouterQueue", "Arn"]}
    # the other functions may not read the queue
    api_role = template["Resources"][template["Resources"]["APIHandler"]["Properties"]["Role"]["Fn::GetAtt"][0]]
    assert "sqs:ReceiveMessage" not in json.dumps(api_role)


# -- cfn-lint ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["built", "built_with_queue"])
def test_template_passes_cfn_lint(variant, request):
    matches = package.lint(request.getfixturevalue(variant).template_path)
    assert not package.lint_errors(matches), "\n".join(map(str, matches))
    assert not matches, "warnings: " + "\n".join(map(str, matches))


def test_cfn_lint_catches_a_broken_reference(built, tmp_path):
    """Guards the guard: the linter really validates this (SAM) template."""
    template = built.template()
    statement = template["Resources"]["FunctionResourcesPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    statement["Resource"][0] = {"Fn::GetAtt": ["NoSuchTable", "Arn"]}
    broken = tmp_path / "sam.json"
    broken.write_text(json.dumps(template, indent=2))
    assert package.lint_errors(package.lint(broken))


def test_post_process_is_idempotent(built_with_queue):
    template = built_with_queue.template()
    again = package.post_process(template, "dev")
    resources = again["Resources"]
    # the functions' roles (the analytics pipe and Firehose have roles of their own, no function policy)
    roles = [resources[package._role_of(n, f["Properties"], resources)] for n, f in package._functions(resources)]
    assert roles
    for role in roles:
        assert role["Properties"]["ManagedPolicyArns"].count({"Ref": "FunctionResourcesPolicy"}) == 1


def test_merge_refuses_a_resource_defined_twice(monkeypatch, tmp_path):
    twice = tmp_path / "merge.yaml"
    twice.write_text("Resources:\n  EventBus:\n    Type: AWS::Events::EventBus\n    Properties: {Name: x}\n")
    monkeypatch.setattr(package, "MERGE", twice)
    with pytest.raises(package.PackagingError, match="EventBus"):
        package.merge_template("dev")


def test_outputs_of_resources_yaml_survive(built):
    outputs = built.template()["Outputs"]
    for name in ("TableName", "AttachmentsBucket", "EventBusName", "PiiKeyId", "LookupKeyId", "RouterQueueUrl",
                 "RouterDeadLetterQueueUrl", "StaffUserPoolId", "StaffUserPoolClientId", "EndpointURL"):
        assert name in outputs


def test_package_uses_no_repository_path(built):
    """The zip's app.py is the project's; nothing outside the staged project went in by absolute path."""
    with zipfile.ZipFile(built.zip_path) as z:
        assert z.read("app.py") == (package.FUNCTIONS / "app.py").read_bytes()
        assert z.read("shared/models.py") == (Path(package.SHARED) / "models.py").read_bytes()


# -- another stage -------------------------------------------------------------------------------------
def test_prod_package_consumes_the_prod_queue_when_app_names_queues_by_stage(tmp_path):
    template = _build_variant(tmp_path, STAGED_QUEUE_PROBE, "prod").template()
    assert template["Parameters"]["Stage"]["AllowedValues"] == ["prod"]
    fn = template["Resources"]["PackageTestProbe"]["Properties"]
    assert fn["Environment"]["Variables"]["STAGE"] == "prod"
    assert next(iter(fn["Events"].values()))["Properties"]["Queue"] == {"Fn::GetAtt": ["RouterQueue", "Arn"]}


def test_a_queue_name_fixed_to_another_stage_is_refused(tmp_path):
    with pytest.raises(package.PackagingError, match="complaints-dev-router"):
        _build_variant(tmp_path, SQS_PROBE, "prod")


def test_api_gateway_refusals_use_the_error_format_and_throttling_is_429(built):
    resources = built.template()["Resources"]
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in resources.values()
                 if r["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert responses["THROTTLED"]["StatusCode"] == "429"
    for props in responses.values():
        body = json.loads(props["ResponseTemplates"]["application/json"].replace("$context.error.messageString", "x"))
        assert set(body) == {"error", "message", "details"}
    assert resources["RestAPI"]["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] > 0


# -- the notifier ----------------------------------------------------------------------------------
def test_notifier_consumes_its_queue_and_may_send_email_and_sms(built):
    template = built.template()
    resources = template["Resources"]
    notifier = resources["NotifyCustomer"]["Properties"]
    [event] = notifier["Events"].values()
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["NotifierQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    rule = resources["CustomerEventsToNotifier"]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["ComplaintReceived", "CustomerReplied"]
    assert resources["NotifierQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5

    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["SENDER_ADDRESS"] == {"Ref": "SenderAddress"}
    assert env["SES_CONFIGURATION_SET"] == {"Ref": "SesConfigurationSet"}
    assert env["PUBLIC_BASE_URL"] == {"Ref": "PublicBaseUrl"}

    statements = {s["Sid"]: s for s in resources["NotifierPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    send = statements["SendEmail"]
    assert set(send["Action"]) == {"ses:SendEmail", "ses:SendRawEmail"}
    assert any("configuration-set/${SesConfigurationSet}" in json.dumps(r) for r in send["Resource"])
    # SMS needs Resource "*": only the notifier's role gets it, in its own policy
    assert notifier["Role"] == {"Fn::GetAtt": ["NotifyCustomerRole", "Arn"]}
    having = [n for n, r in resources.items() if r["Type"] == "AWS::IAM::Role"
              and {"Ref": "NotifierPolicy"} in r["Properties"].get("ManagedPolicyArns", [])]
    assert having == ["NotifyCustomerRole"]
    statement = statements["SendSms"]
    assert statement["Action"] == "sns:Publish" and "aws:RequestedRegion" in statement["Condition"]["StringEquals"]


def test_the_reports_layer_goes_to_the_scheduled_reports_function_only(built):
    """matplotlib and friends ship in a layer attached to the function that draws charts, so the
    other functions' packages and cold starts do not carry them."""
    resources = built.template()["Resources"]
    layer = resources["ReportsLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "./reports-layer.zip"
    assert (built.out_dir / "reports-layer.zip").is_file()
    with zipfile.ZipFile(built.out_dir / "reports-layer.zip") as zf:
        assert all(n.startswith("python/") for n in zf.namelist())
    having = {n for n, f in _functions(built.template()).items() if f["Properties"].get("Layers")}
    assert having == {"SendScheduledReports"}
    assert resources["SendScheduledReports"]["Properties"]["Layers"] == [{"Ref": "ReportsLayer"}]


def test_the_reports_extra_is_what_the_layer_installs():
    import tomllib

    extras = tomllib.loads((package.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"]
    pinned = package.extra_requirements("reports")
    assert [p.split("==")[0].lower() for p in pinned] == [
        s.split(">")[0].split("=")[0].split("[")[0].strip().lower() for s in extras["reports"]]
    runtime = {r.split(">")[0].split("=")[0].split("[")[0].strip().lower()
               for r in tomllib.loads((package.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
                   "dependencies"]}
    assert "matplotlib" not in runtime  # never in every function's package
