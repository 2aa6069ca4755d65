"""`make package` offline: the zip holds the code as Lambda will import it, and the merged template
carries every resource, the functions' environment and permissions, and passes cfn-lint.

Everything is built from a temporary copy of the Chalice project (``staging``) with empty
requirements, so the test needs no network and leaves nothing in ``functions/``.
"""
from __future__ import annotations

import json
import os
import sys
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
    # bytecode: ours only, one hash-based file per module (Python loads it whatever the zip's timestamps)
    pycs = {n for n in names if "__pycache__" in n or n.endswith(".pyc")}
    assert pycs, "our code ships its bytecode"
    assert not [n for n in pycs if not n.startswith((*package.OUR_CODE, "__pycache__/app."))]
    sources = {n for n in names if n.endswith(".py") and n.startswith(package.OUR_CODE)}
    tag = sys.implementation.cache_tag
    assert {f"{n.rpartition('/')[0]}/__pycache__/{n.rpartition('/')[2][:-3]}.{tag}.pyc".lstrip("/")
            for n in sources} == pycs
    assert not [n for n in names if n.startswith("functions/router/models/")]  # make deploy stages the model


def test_the_bytecode_is_what_python_loads_from_the_unzipped_package(built, tmp_path):
    import subprocess

    zipfile.ZipFile(built.zip_path).extractall(tmp_path / "task")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": ""}
    run = subprocess.run([sys.executable, "-v", "-c", "import shared.identifiers"], cwd=tmp_path / "task",
                         env=env, capture_output=True, text=True, check=True)
    pyc = f"shared/__pycache__/identifiers.{sys.implementation.cache_tag}.pyc"
    loaded = [line for line in run.stderr.splitlines() if line.startswith("# code object from") and "identifiers" in line]
    assert loaded and loaded[0].endswith(f"{pyc}'"), run.stderr[-2000:]  # not compiled from the source


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


def test_the_report_charts_need_no_layer(built):
    """The charts are drawn in pure Python (functions/reports/canvas.py): the scheduled reports function
    ships the common package, with no matplotlib layer, and matplotlib is in no package at all."""
    import tomllib

    resources = built.template()["Resources"]
    assert "ReportsLayer" not in resources and not (built.out_dir / "reports-layer.zip").exists()
    assert {"Ref": "ReportsLayer"} not in (resources["SendScheduledReports"]["Properties"].get("Layers") or [])
    project = tomllib.loads((package.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    shipped = [*project["dependencies"], *(s for name in package.LAYERS
                                            for s in project["optional-dependencies"][name])]
    assert not [s for s in shipped if s.lower().startswith("matplotlib")]


def test_a_layer_goes_to_its_functions_only(built, monkeypatch):
    monkeypatch.setattr(package, "LAYERS", {"probe": ("SendScheduledReports",)})
    resources = package.add_layers(built.template(), "python3.11")["Resources"]
    assert resources["ProbeLayer"]["Type"] == "AWS::Serverless::LayerVersion"
    assert resources["ProbeLayer"]["Properties"]["ContentUri"] == "./probe-layer.zip"
    having = {n for n, r in resources.items() if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")
              and {"Ref": "ProbeLayer"} in (r["Properties"].get("Layers") or [])}
    assert having == {"SendScheduledReports"}


# -- layers: each function ships the libraries its code imports, and only those -----------------------------
def _pii_key_users(template) -> set[str]:
    """Functions whose role may use the PII key (kms:Decrypt / GenerateDataKey): only they can encrypt or
    decrypt contact data (shared/crypto.py needs a data key from it)."""
    resources = template["Resources"]
    users = set()
    for name, fn in _functions(template).items():
        role = resources[fn["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        documents = [resources[ref["Ref"]]["Properties"]["PolicyDocument"] for ref in role.get("ManagedPolicyArns", [])
                     if isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in resources]
        documents += [p["PolicyDocument"] for p in role.get("Policies", [])]
        for statement in (s for d in documents for s in d["Statement"]):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "PiiKey" in json.dumps(statement.get("Resource")) and {"kms:Decrypt", "kms:GenerateDataKey"} & set(actions):
                users.add(name)
    return users


def test_each_function_gets_exactly_the_layers_its_code_imports(built):
    """The import graph of each handler (app.py -> modules, lazy imports included) decides: a function
    that may import selectolax, openpyxl or pycryptodome has that layer, no other function has it.
    pycryptodome is reachable from every function through the repository's cipher, but only the
    functions allowed to use the PII key can get a data key to encrypt or decrypt with."""
    template = built.template()
    needed, pii = package.layers_needed(), _pii_key_users(template)
    assert pii == {"APIHandler", "TakeInEmail", "NotifyCustomer", "FollowUpPrivacyRequests", "AnonymiseExpiredCases"}
    functions = _functions(template)
    assert set(needed) == set(functions)
    for name, fn in functions.items():
        attached = {ref["Ref"].removesuffix("Layer").lower() for ref in fn["Properties"].get("Layers", [])}
        expected = needed[name] - (set() if name in pii else {"crypto"})
        assert attached == expected, name
    assert needed["TakeInEmail"] >= {"mail", "crypto"} and "mail" not in needed["APIHandler"]
    assert "xlsx" in needed["APIHandler"] and "xlsx" not in needed["RouteComplaint"]


def test_a_handler_importing_a_layer_library_is_seen(tmp_path):
    """Guards the guard: a new function whose code reaches selectolax needs the mail layer."""
    app_source = tmp_path / "app.py"
    app_source.write_text((package.FUNCTIONS / "app.py").read_text(encoding="utf-8") + '''

@app.lambda_function()
def package_test_probe(event, context):
    from functions.intake.mail.html_text import html_to_text
    return html_to_text(event["html"])
''', encoding="utf-8")
    needed = package.layers_needed(app_source)
    assert "mail" in needed["PackageTestProbe"] and "xlsx" not in needed["PackageTestProbe"]
    assert "PackageTestProbe" not in {fn for fns in package.LAYERS.values() for fn in fns}


def test_layers_are_extras_built_as_python_zips_and_kept_out_of_the_common_requirements(built):
    import tomllib

    project = tomllib.loads((package.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    resources = built.template()["Resources"]
    assert set(package.LAYERS) == {"crypto", "mail", "xlsx"}
    common = " ".join(project["dependencies"]).lower()
    for name in package.LAYERS:
        assert project["optional-dependencies"][name], name
        assert set(package.LAYER_MODULES[name])
        assert resources[name.capitalize() + "Layer"]["Properties"]["ContentUri"] == f"./{name}-layer.zip"
        with zipfile.ZipFile(built.out_dir / f"{name}-layer.zip") as zf:
            assert all(n.startswith("python/") for n in zf.namelist())
        for spec in project["optional-dependencies"][name]:
            assert spec.split(">")[0].split("=")[0].lower() not in common
    for heavy in ("cryptography", "selectolax", "openpyxl", "pycryptodome", "pyjwt[crypto]"):
        assert heavy not in common


def test_pruning_keeps_what_the_functions_load(tmp_path):
    """The common libraries and the layers, pruned as make package prunes them, alone on sys.path
    (no site-packages): what the functions do with them still works."""
    import subprocess
    import sys
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.package_bench import _closure, _files

    site = tmp_path / "site"
    sources = [(p, rel, None) for p, rel in _files(_closure(package.runtime_requirements()))]
    for layer in package.LAYERS:
        sources += [(p, rel, layer) for p, rel in _files(_closure(package.extra_requirements(layer)))]
    for path, rel, layer in sources:
        if package.shipped(rel, layer):
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            (site / rel).write_bytes(path.read_bytes())
    assert not (site / "dns").exists() and not (site / "holidays" / "locale").exists()
    assert not list((site / "Crypto" / "PublicKey").glob("_ec_*"))

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
    token = jwt.encode({"sub": "u-1", "role": "lead", "exp": int(time.time()) + 600}, private, algorithm="RS256",
                       headers={"kid": "k1"})
    script = f'''
import sys
sys.path[:0] = [{str(site)!r}, {str(package.ROOT)!r}]
import datetime, os
os.environ["POWERTOOLS_SERVICE_NAME"] = "probe"
import holidays
assert datetime.date(2026, 12, 25) in holidays.country_holidays("DE", subdiv="BY", years=2026)
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
EphemeralMetrics(namespace="probe").add_metric(name="m", unit=MetricUnit.Count, value=1)
from shared.models import CustomerIn
assert CustomerIn.model_validate({{"name": "Li Na", "email": "li.na@example.com"}}).email
from shared.crypto import FieldCipher
class Kms:
    def generate_data_key(self, **kw): return {{"Plaintext": bytes(32), "CiphertextBlob": b"k"}}
    def decrypt(self, **kw): return {{"Plaintext": bytes(32)}}
cipher = FieldCipher(Kms(), "key")
assert cipher.decrypt(cipher.encrypt("x", bound_to="C-1"), bound_to="C-1") == "x"
from shared.auth import JwksVerifier
assert JwksVerifier(jwks={{"keys": [{json.dumps(jwk)}]}}).verify({token!r}).role == "lead"
from functions.intake.mail.html_text import html_to_text
assert "Hello" in html_to_text("<p>Hello <b>there</b></p>")
import openpyxl
openpyxl.Workbook().save(__import__("io").BytesIO())
import jinja2
assert "cryptography" not in sys.modules and "dns" not in sys.modules
print("ok")
'''
    run = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]
