"""`make deploy STAGE=prod`: package, deploy the stack, stage the configuration. No hand step.

1. ``python -m infra.package --stage <stage>``: ``dist/package/`` (deployment zip, layers, ``sam.json``),
   cfn-lint checked.
2. The configuration documents to stage are read and validated *before* anything is deployed: for
   each kind of ``shared.config_store.KINDS`` (routing, sla, workflow, responses, notifications, reports,
   privacy) ``<config-dir>/<kind>_config.json`` when ``--config-dir`` has it, else the bundled default
   ``shared/<kind>_config.json``; ``--model`` / ``--priority-rules`` are loaded as the router would.
3. The stack: with the SAM CLI when it is installed (``sam deploy``, ``--resolve-s3`` unless an
   artefacts bucket is given), else the AWS CLI (``aws cloudformation package`` to the artefacts
   bucket, then ``aws cloudformation deploy``). Parameters: ``Stage``, ``SenderAddress``,
   ``PublicBaseUrl``, ``UploadOrigin`` (the base URL's origin unless given), ``ComplaintAddresses``,
   ``OperatorEmail``; a parameter not given keeps the stack's value.
4. The classifier model and priority rules, when given, are uploaded to the stack's models bucket
   under a key naming their content hash (``classifier/<sha256>.json``; an upload that exists is not
   repeated), and the stack is pointed at them (``ModelUri``/``PriorityRulesUri``, a second deploy
   that changes only those variables when the bucket did not exist before).
5. Configuration staging (:func:`stage_config`), through the same ``ConfigStore`` the functions use,
   on the deployed table: a document is saved as a new version (actor ``deploy``, with an audit
   record) only when it differs from the version in force. A version an admin saved through the API
   since the last deploy is never overwritten silently: if the deployed document is still the one
   the last deploy staged, the admin's version stays (``kept``); if both changed, nothing is written
   and the deploy ends with status 3 (``conflict``) unless ``--overwrite-staff-changes``.

``--dry-run`` prints the exact commands and what would be staged, and runs nothing (no AWS account
is needed). docs/operations.md tells the whole first deployment.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "dist" / "package"
ACTOR = "deploy"  # who saves configuration versions and the audit records of a deploy
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")
CONFLICT_STATUS = 3


class DeployError(RuntimeError):
    pass


# -- the commands ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    stage: str
    region: str | None = None
    stack_name: str | None = None
    tool: str = "auto"  # auto | sam | aws
    artefacts_bucket: str | None = None
    sender_address: str | None = None
    public_base_url: str | None = None
    upload_origin: str | None = None
    complaint_addresses: str | None = None
    operator_email: str | None = None
    config_dir: Path | None = None
    model: Path | None = None
    priority_rules: Path | None = None
    overwrite_staff_changes: bool = False
    skip_package: bool = False
    out: Path = PACKAGE_DIR

    @property
    def stack(self) -> str:
        return self.stack_name or f"complaints-{self.stage}"


def parameter_overrides(opts: Options, extra: dict[str, str] | None = None) -> list[str]:
    """``Key=value`` for every parameter given (the others keep the stack's value)."""
    values = {"Stage": opts.stage, "SenderAddress": opts.sender_address, "PublicBaseUrl": opts.public_base_url,
              "UploadOrigin": opts.upload_origin or _origin(opts.public_base_url),
              "ComplaintAddresses": opts.complaint_addresses, "OperatorEmail": opts.operator_email, **(extra or {})}
    return [f"{k}={v}" for k, v in values.items() if v is not None]


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def resolve_tool(opts: Options, which: Callable[[str], str | None] = shutil.which) -> str:
    if opts.tool != "auto":
        return opts.tool
    return "sam" if which("sam") else "aws"


def package_command(opts: Options) -> list[str]:
    return [sys.executable, "-m", "infra.package", "--stage", opts.stage, "--out", str(opts.out)]


def deploy_commands(opts: Options, tool: str, extra: dict[str, str] | None = None) -> list[list[str]]:
    template = str(opts.out / "sam.json")
    region = ["--region", opts.region] if opts.region else []
    overrides = parameter_overrides(opts, extra)
    prefix = f"complaints/{opts.stage}"
    if tool == "sam":
        where = ["--s3-bucket", opts.artefacts_bucket] if opts.artefacts_bucket else ["--resolve-s3"]
        return [["sam", "deploy", "--template-file", template, "--stack-name", opts.stack, *where,
                 "--s3-prefix", prefix, "--capabilities", *CAPABILITIES, "--no-confirm-changeset",
                 "--no-fail-on-empty-changeset", *region, "--parameter-overrides", *overrides]]
    if tool != "aws":
        raise DeployError(f"unknown tool {tool!r} (sam, aws)")
    if not opts.artefacts_bucket:
        raise DeployError("the AWS CLI needs an S3 bucket for the code (--artefacts-bucket / ARTEFACTS_BUCKET), "
                          "or install the SAM CLI, which creates one (--resolve-s3)")
    packaged = str(opts.out / "packaged.yaml")
    return [
        ["aws", "cloudformation", "package", "--template-file", template, "--s3-bucket", opts.artefacts_bucket,
         "--s3-prefix", prefix, "--output-template-file", packaged, *region],
        ["aws", "cloudformation", "deploy", "--template-file", packaged, "--stack-name", opts.stack,
         "--capabilities", *CAPABILITIES, "--no-fail-on-empty-changeset", *region,
         "--parameter-overrides", *overrides],
    ]


# -- the configuration -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    kind: str
    source: str  # where it comes from (for the version's comment and the report)
    config: Any  # the validated pydantic model

    @property
    def canonical(self) -> str:
        return self.config.model_dump_json(exclude_none=True)


def load_documents(config_dir: Path | None = None) -> list[Document]:
    """Every kind's document, validated; all problems at once (before anything is deployed)."""
    from pydantic import ValidationError

    from shared.config_store import BUNDLED, KINDS, bundled

    models = {kind: type(bundled(kind).config) for kind in KINDS}
    docs: list[Document] = []
    problems: list[str] = []
    if config_dir is not None and not config_dir.is_dir():
        raise DeployError(f"--config-dir {config_dir} is not a directory")
    known = {f"{k}_config.json" for k in KINDS}
    if config_dir is not None:
        strays = sorted(p.name for p in config_dir.glob("*.json") if p.name not in known)
        if strays:
            problems.append(f"{config_dir}: unknown documents {strays} (known: {sorted(known)})")
    for kind in KINDS:
        path = config_dir / f"{kind}_config.json" if config_dir is not None else None
        if path is None or not path.is_file():
            path = BUNDLED(f"{kind}_config.json")
        try:
            docs.append(Document(kind, _label(path), models[kind].model_validate(json.loads(path.read_text("utf-8")))))
        except (OSError, ValueError, ValidationError) as exc:
            first = str(exc).splitlines()[:4]
            problems.append(f"{_label(path)}: " + " / ".join(first))
    if problems:
        raise DeployError("invalid configuration, nothing deployed:\n  " + "\n  ".join(problems))
    return docs


def _label(path: Path) -> str:
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


@dataclass(frozen=True)
class Staged:
    kind: str
    outcome: str  # unchanged | saved | kept | conflict
    version: int  # the version in force afterwards
    note: str = ""


def stage_config(dynamodb: Any, table: str, documents: Sequence[Document], *, stage: str = "",
                 overwrite_staff_changes: bool = False) -> list[Staged]:
    """Save each document that differs from the version in force (see the module docstring)."""
    from shared.audit import AuditLog
    from shared.config_store import ConfigStore, StaleConfig, bundled

    store, audit, out = ConfigStore(dynamodb, table, cache_seconds=0), AuditLog(dynamodb, table), []
    for doc in documents:
        current = store.current(doc.kind, fresh=True)
        if _canonical(current.config) == doc.canonical:
            out.append(Staged(doc.kind, "unchanged", current.version))
            continue
        last = _last_deployed(store, doc.kind) or bundled(doc.kind)
        staff_changed = current.version != last.version
        if staff_changed and _canonical(last.config) == doc.canonical:
            out.append(Staged(doc.kind, "kept", current.version,
                              f"version {current.version} ({current.updated_by}) was saved since the last deploy; "
                              "the deployed document has not changed since"))
            continue
        if staff_changed and not overwrite_staff_changes:
            out.append(Staged(doc.kind, "conflict", current.version,
                              f"version {current.version} ({current.updated_by}) was saved since the last deploy "
                              f"and {doc.source} changed too: merge them into {doc.source}, or deploy with "
                              "--overwrite-staff-changes"))
            continue
        try:
            saved = store.save(doc.kind, json.loads(doc.canonical), expected_version=current.version, actor=ACTOR,
                               comment=f"staged by deploy{' ' + stage if stage else ''} from {doc.source}")
        except StaleConfig as exc:
            out.append(Staged(doc.kind, "conflict", exc.current, "changed while the deploy staged it; deploy again"))
            continue
        audit.record(action="deploy.stage_config", actor=ACTOR, role=ACTOR,
                     details={"kind": doc.kind, "version": saved.version, "previous_version": current.version})
        out.append(Staged(doc.kind, "saved", saved.version, f"from {doc.source}"))
    return out


def _canonical(config: Any) -> str:
    return config.model_dump_json(exclude_none=True)


def _last_deployed(store: Any, kind: str) -> Any:
    """The newest version the deploy saved (history holds 1,000 versions at most per page: enough)."""
    for row in store.history(kind, limit=1000):
        if row.get("updated_by") == ACTOR:
            return store.version(kind, row["version"])
    return None


# -- the router's artefacts ---------------------------------------------------------------------------
ARTEFACTS = {"model": ("ModelUri", "classifier"), "priority_rules": ("PriorityRulesUri", "priority-rules")}


def bundled_model() -> Path:
    """The default classifier: always staged, since the package leaves it out (infra/package.py PRUNE)."""
    from functions.router.classifier import default_model_path

    return default_model_path()


def check_artefacts(opts: Options) -> dict[str, Path]:
    """Load each given artefact as the router would, so a broken one stops the deploy before it starts."""
    found = {}
    if opts.model:
        from functions.router.classifier import load_model

        try:
            load_model(str(opts.model))
        except Exception as exc:  # noqa: BLE001 - any failure means the router could not load it either
            raise DeployError(f"--model {opts.model}: {type(exc).__name__}: {exc}") from None
        found["model"] = opts.model
    if opts.priority_rules:
        from functions.router.priority import load_rules

        try:
            load_rules(str(opts.priority_rules))
        except Exception as exc:  # noqa: BLE001
            raise DeployError(f"--priority-rules {opts.priority_rules}: {exc}") from None
        found["priority_rules"] = opts.priority_rules
    return found


def artefact_key(name: str, path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{ARTEFACTS[name][1]}/{digest}.json"


def upload_artefact(s3: Any, bucket: str, key: str, path: Path) -> bool:
    """Content-addressed: an object that exists is the same bytes, so it is not sent again."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except Exception as exc:  # noqa: BLE001
        from shared.aws import error_code

        if error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="application/json")
    return True


# -- the stack ----------------------------------------------------------------------------------------
def stack_state(cfn: Any, stack: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """(outputs, parameters) of the stack, or None when it does not exist."""
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as exc:  # noqa: BLE001
        if "does not exist" in str(exc):
            return None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs") or []}
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters") or []}
    return outputs, params


def _run(cmd: list[str], say: Callable[[str], None]) -> None:
    say("$ " + shlex.join(cmd))
    done = subprocess.run(cmd, cwd=ROOT)  # nosec B603  # fixed argv, no shell
    if done.returncode:
        raise DeployError(f"{cmd[0]} {cmd[1]} failed ({done.returncode})")


def deploy(opts: Options, *, dry_run: bool = False, say: Callable[[str], None] = print,
           session: Any = None) -> int:
    documents = load_documents(opts.config_dir)
    artefacts = check_artefacts(opts)
    tool = resolve_tool(opts)
    steps = ([] if opts.skip_package else [package_command(opts)]) + deploy_commands(opts, tool)
    if dry_run:
        for cmd in steps:
            say("$ " + shlex.join(cmd))
        for name, path in artefacts.items():
            say(f"upload {_label(path)} to s3://complaints-{opts.stage}-models-<account>/{artefact_key(name, path)} "
                f"and set {ARTEFACTS[name][0]} (a second deploy when the bucket is new)")
        say(f"stage configuration into the stack's table (TableName output of {opts.stack}) as actor {ACTOR!r}: "
            + ", ".join(f"{d.kind} <- {d.source}" for d in documents))
        return 0

    import boto3

    session = session or boto3.session.Session(region_name=opts.region)
    cfn, s3 = session.client("cloudformation"), session.client("s3")
    before = stack_state(cfn, opts.stack)
    if before is None and not (opts.sender_address and opts.public_base_url):
        raise DeployError(f"{opts.stack} does not exist yet: its first deploy needs SENDER_ADDRESS and PUBLIC_BASE_URL "
                          "(--sender-address, --public-base-url), or the emails would name example.com")
    extra: dict[str, str] = {}
    if artefacts and before and before[0].get("ModelsBucket"):  # the bucket exists: point at them at once
        for name, path in artefacts.items():
            extra[ARTEFACTS[name][0]] = _stage_artefact(s3, before[0]["ModelsBucket"], name, path, say)
    for cmd in ([] if opts.skip_package else [package_command(opts)]) + deploy_commands(opts, tool, extra):
        _run(cmd, say)
    after = stack_state(cfn, opts.stack)
    if after is None:
        raise DeployError(f"stack {opts.stack} not found after the deploy")
    outputs, params = after
    if artefacts and not extra:
        for name, path in artefacts.items():
            extra[ARTEFACTS[name][0]] = _stage_artefact(s3, outputs["ModelsBucket"], name, path, say)
        if any(params.get(k) != v for k, v in extra.items()):
            _run(deploy_commands(opts, tool, extra)[-1], say)  # the code is uploaded already

    staged = stage_config(session.client("dynamodb"), outputs["TableName"], documents, stage=opts.stage,
                          overwrite_staff_changes=opts.overwrite_staff_changes)
    for s in staged:
        say(f"config {s.kind}: {s.outcome}, version {s.version}{' - ' + s.note if s.note else ''}")
    say(f"deployed {opts.stack}: {outputs.get('EndpointURL', '(no EndpointURL output)')}")
    return CONFLICT_STATUS if any(s.outcome == "conflict" for s in staged) else 0


def _stage_artefact(s3: Any, bucket: str, name: str, path: Path, say: Callable[[str], None]) -> str:
    key = artefact_key(name, path)
    sent = upload_artefact(s3, bucket, key, path)
    say(f"{name}: s3://{bucket}/{key} ({'uploaded' if sent else 'already there'})")
    return f"s3://{bucket}/{key}"


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.split("\n")[0])
    p.add_argument("--stage", default=_env("STAGE") or "dev")
    p.add_argument("--region", default=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION"))
    p.add_argument("--stack-name", help="default complaints-<stage>")
    p.add_argument("--tool", choices=("auto", "sam", "aws"), default="auto",
                   help="sam when the SAM CLI is installed, else the AWS CLI (auto)")
    p.add_argument("--artefacts-bucket", default=_env("ARTEFACTS_BUCKET"),
                   help="S3 bucket for the code (needed by the AWS CLI; SAM creates one without it)")
    p.add_argument("--sender-address", default=_env("SENDER_ADDRESS"))
    p.add_argument("--public-base-url", default=_env("PUBLIC_BASE_URL"))
    p.add_argument("--upload-origin", default=_env("UPLOAD_ORIGIN"), help="default: the public base URL's origin")
    p.add_argument("--complaint-addresses", default=_env("COMPLAINT_ADDRESSES"), help="comma-separated")
    p.add_argument("--operator-email", default=_env("OPERATOR_EMAIL"))
    p.add_argument("--config-dir", type=Path, default=_env("CONFIG_DIR"),
                   help="<kind>_config.json documents overriding the bundled defaults")
    p.add_argument("--model", type=Path, default=_env("MODEL_FILE"),
                   help="classifier model file to deploy (default: the bundled default model, which the "
                        "package leaves out: the router reads its model from the models bucket)")
    p.add_argument("--priority-rules", type=Path, default=_env("PRIORITY_RULES_FILE"))
    p.add_argument("--overwrite-staff-changes", action="store_true")
    p.add_argument("--skip-package", action="store_true", help="deploy dist/package as it is")
    p.add_argument("--dry-run", action="store_true", help="print the commands and the staging; run nothing")
    args = p.parse_args(argv)
    opts = Options(stage=args.stage, region=args.region, stack_name=args.stack_name, tool=args.tool,
                   artefacts_bucket=args.artefacts_bucket, sender_address=args.sender_address,
                   public_base_url=args.public_base_url, upload_origin=args.upload_origin,
                   complaint_addresses=args.complaint_addresses, operator_email=args.operator_email,
                   config_dir=args.config_dir, model=args.model or bundled_model(), priority_rules=args.priority_rules,
                   overwrite_staff_changes=args.overwrite_staff_changes, skip_package=args.skip_package)
    try:
        return deploy(opts, dry_run=args.dry_run)
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
