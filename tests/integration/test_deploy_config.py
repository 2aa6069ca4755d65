"""`make deploy` stages the configuration (infra/deploy.py): against the moto stack, staff see through the API
what a deploy put in force; a deploy twice writes nothing the second time; an admin's change is never
overwritten silently. And ``--dry-run`` prints the exact commands without an AWS account."""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from infra import deploy
from shared.config_store import KINDS

BUNDLED = Path(deploy.ROOT / "shared")


def _stage(aws, config_dir=None, **kw):
    from shared.aws import client

    return {s.kind: s for s in deploy.stage_config(client("dynamodb"), aws["TABLE_NAME"],
                                                   deploy.load_documents(config_dir), stage="dev", **kw)}


def _config_dir(tmp_path: Path, name: str = "cfg", **changes) -> Path:
    """A config directory holding the bundled SLA document with ``changes`` applied."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    document = json.loads((BUNDLED / "sla_config.json").read_text(encoding="utf-8"))
    document.update(changes)
    (folder / "sla_config.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def _sla(client, make_token):
    answer = client.http.get("/staff/config/sla", headers={"Authorization": f"Bearer {make_token('admin')}"})
    assert answer.status_code == 200, answer.body
    return answer.json_body


def _history(client, make_token, kind="sla"):
    answer = client.http.get(f"/staff/config/{kind}/history",
                             headers={"Authorization": f"Bearer {make_token('admin')}"})
    assert answer.status_code == 200, answer.body
    return answer.json_body["versions"]


def test_deploying_the_bundled_defaults_to_a_new_stack_writes_nothing(aws, client, make_token):
    staged = _stage(aws)
    assert set(staged) == set(KINDS)
    assert {s.outcome for s in staged.values()} == {"unchanged"}
    assert _sla(client, make_token)["version"] == 0 and _history(client, make_token) == []


def test_a_changed_document_becomes_a_version_by_deploy_and_a_second_deploy_writes_nothing(
        aws, client, make_token, tmp_path):
    folder = _config_dir(tmp_path, warning_shares=[0.5, 0.75])
    first = _stage(aws, folder)
    assert first["sla"].outcome == "saved" and first["sla"].version == 1
    assert {s.outcome for k, s in first.items() if k != "sla"} == {"unchanged"}

    seen = _sla(client, make_token)
    assert seen["version"] == 1 and seen["updated_by"] == "deploy"
    assert seen["config"]["warning_shares"] == [0.5, 0.75]
    assert "sla_config.json" in seen["comment"]

    again = _stage(aws, folder)
    assert {s.outcome for s in again.values()} == {"unchanged"}
    assert [v["version"] for v in _history(client, make_token)] == [1]

    # a later change of the same document is the next version
    newer = _config_dir(tmp_path, "cfg2", warning_shares=[0.4, 0.75])
    assert _stage(aws, newer)["sla"].version == 2
    assert _sla(client, make_token)["config"]["warning_shares"] == [0.4, 0.75]


def test_the_deploy_leaves_an_audit_record_of_what_it_staged(aws, tmp_path):
    from shared.audit import AuditLog
    from shared.aws import client

    _stage(aws, _config_dir(tmp_path, warning_shares=[0.5, 0.75]))
    today = datetime.now(timezone.utc).date()
    page = AuditLog(client("dynamodb"), aws["TABLE_NAME"]).search(
        actor="deploy", since=(today - timedelta(days=1)).isoformat(), until=(today + timedelta(days=1)).isoformat())
    assert [(r.action, r.details["kind"], r.details["version"]) for r in page.records] == \
        [("deploy.stage_config", "sla", 1)]


def _admin_saves(client, make_token, version: int, shares: list[float]) -> None:
    document = json.loads((BUNDLED / "sla_config.json").read_text(encoding="utf-8"))
    document["warning_shares"] = shares
    answer = client.http.put("/staff/config/sla", body=json.dumps({"version": version, "config": document}),
                             headers={"Authorization": f"Bearer {make_token('admin')}",
                                      "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.body


def test_an_admins_change_stays_when_the_deployed_document_did_not_change(aws, client, make_token):
    _admin_saves(client, make_token, 0, [0.6, 0.9])
    staged = _stage(aws)  # the bundled default, as every deploy so far
    assert staged["sla"].outcome == "kept"
    assert _sla(client, make_token)["config"]["warning_shares"] == [0.6, 0.9]


def test_when_both_changed_the_deploy_writes_nothing_and_says_so_unless_told_to_overwrite(
        aws, client, make_token, tmp_path):
    assert _stage(aws, _config_dir(tmp_path, warning_shares=[0.5, 0.75]))["sla"].version == 1
    _admin_saves(client, make_token, 1, [0.6, 0.9])
    changed = _config_dir(tmp_path, "cfg2", warning_shares=[0.3, 0.7])

    conflict = _stage(aws, changed)["sla"]
    assert conflict.outcome == "conflict" and conflict.version == 2 and "--overwrite-staff-changes" in conflict.note
    assert _sla(client, make_token)["config"]["warning_shares"] == [0.6, 0.9]

    forced = _stage(aws, changed, overwrite_staff_changes=True)["sla"]
    assert forced.outcome == "saved" and forced.version == 3
    assert _sla(client, make_token)["config"]["warning_shares"] == [0.3, 0.7]


def test_an_invalid_document_stops_the_deploy_before_anything_is_deployed(tmp_path, capsys):
    folder = _config_dir(tmp_path, warning_shares="soon")
    (folder / "routing_config.json").write_text("{not json", encoding="utf-8")
    (folder / "slas_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(deploy.DeployError) as caught:
        deploy.load_documents(folder)
    message = str(caught.value)
    assert "sla_config.json" in message and "routing_config.json" in message and "slas_config.json" in message

    status = deploy.main(["--stage", "prod", "--dry-run", "--tool", "sam", "--config-dir", str(folder)])
    assert status == 1
    out = capsys.readouterr()
    assert "nothing deployed" in out.err and "$ " not in out.out


# -- the router's artefacts --------------------------------------------------------------------------
def test_a_model_or_rules_file_is_uploaded_once_under_its_content_hash(aws, tmp_path):
    from shared.aws import client

    rules = tmp_path / "rules.json"
    shutil.copy(BUNDLED / "priority_rules.json", rules)
    opts = deploy.Options(stage="dev", priority_rules=rules)
    assert deploy.check_artefacts(opts) == {"priority_rules": rules}
    key = deploy.artefact_key("priority_rules", rules)
    assert key.startswith("priority-rules/") and key.endswith(".json")

    s3 = client("s3")
    assert deploy.upload_artefact(s3, aws["MODELS_BUCKET"], key, rules) is True
    assert deploy.upload_artefact(s3, aws["MODELS_BUCKET"], key, rules) is False
    body = s3.get_object(Bucket=aws["MODELS_BUCKET"], Key=key)["Body"].read()
    assert body == rules.read_bytes()


def test_a_broken_rules_file_stops_the_deploy(tmp_path):
    broken = tmp_path / "rules.json"
    broken.write_text("[]", encoding="utf-8")
    with pytest.raises(deploy.DeployError, match="priority-rules"):
        deploy.check_artefacts(deploy.Options(stage="prod", priority_rules=broken))


# -- --dry-run ---------------------------------------------------------------------------------------------
PROD = ["--stage", "prod", "--dry-run", "--sender-address", "complaints@acme.example",
        "--public-base-url", "https://complaints.acme.example/", "--complaint-addresses",
        "complaints@acme.example,recall@acme.example", "--operator-email", "ops@acme.example"]


def _commands(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("$ ")]


def test_dry_run_with_the_aws_cli_packages_uploads_and_deploys_with_the_parameters(capsys):
    assert deploy.main([*PROD, "--tool", "aws", "--artefacts-bucket", "acme-artefacts", "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out
    package_cmd, upload, create = _commands(out)
    assert package_cmd.endswith("-m infra.package --stage prod --out " + str(deploy.PACKAGE_DIR))
    assert upload.startswith("aws cloudformation package ") and "--s3-bucket acme-artefacts" in upload
    assert create.startswith("aws cloudformation deploy ") and "--stack-name complaints-prod" in create
    assert "--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND" in create and "--region eu-west-1" in create
    overrides = create.split("--parameter-overrides ", 1)[1].split()
    assert overrides == ["Stage=prod", "SenderAddress=complaints@acme.example",
                         "PublicBaseUrl=https://complaints.acme.example/",
                         "UploadOrigin=https://complaints.acme.example",  # the form's origin, not "*"
                         "ComplaintAddresses=complaints@acme.example,recall@acme.example",
                         "OperatorEmail=ops@acme.example"]
    assert "routing <- shared/routing_config.json" in out and "'deploy'" in out


def test_dry_run_with_sam_resolves_the_artefacts_bucket(capsys):
    assert deploy.main([*PROD, "--tool", "sam", "--skip-package"]) == 0
    (only,) = _commands(capsys.readouterr().out)
    assert only.startswith("sam deploy ") and "--resolve-s3" in only and "--no-confirm-changeset" in only


def test_the_aws_cli_without_an_artefacts_bucket_is_refused_with_the_way_out(capsys, monkeypatch):
    monkeypatch.delenv("ARTEFACTS_BUCKET", raising=False)
    assert deploy.main([*PROD, "--tool", "aws"]) == 1
    assert "--artefacts-bucket" in capsys.readouterr().err


def test_auto_picks_sam_when_installed():
    opts = deploy.Options(stage="prod")
    assert deploy.resolve_tool(opts, which=lambda name: "/usr/bin/sam") == "sam"
    assert deploy.resolve_tool(opts, which=lambda name: None) == "aws"
