"""`make package`: the deployable artefacts, ``dist/package/deployment.zip`` and ``sam.json``.

Steps (docs/deploy.md tells what to do with the result):

1. ``functions/vendor/``: Chalice zips only ``app.py``, ``chalicelib/`` and ``vendor/``, and follows
   directory symlinks inside ``vendor/``. So ``vendor/functions/`` holds a copy of
   ``functions/__init__.py`` and a symlink to every step package under ``functions/`` (any
   directory with an ``__init__.py``), and ``vendor/shared`` links to ``shared/``. The zip root
   then holds ``app.py``, ``functions/...`` and ``shared/...``: imports read as they do locally.
2. ``functions/requirements.txt``: pyproject's runtime dependencies, pinned to the versions
   installed here (the ones the tests ran with), without boto3/botocore/s3transfer, which every
   Lambda Python runtime ships (that keeps ~16 MB out of the zip, ~30 MB unpacked), and without
   chalice, whose runtime (``chalice/app.py``) Chalice's packager adds itself.
3. ``chalice package --merge-template``: the merge template is ``infra/resources.yaml`` plus
   ``infra/merge.yaml`` (environment through SAM ``Globals``, the functions' managed policy,
   Cognito), with the ``Stage`` parameter tied to the Chalice stage.
4. Post-processing of the generated template, for what a static merge cannot say because it
   depends on what ``app.py`` declares (see :func:`post_process`), then the zip's bytecode (pip's
   timestamp-checked ``__pycache__`` out: zip timestamps would not match; hash-based bytecode of our
   own code in: :func:`bytecode`), a check of the zip and cfn-lint. The bundled classifier model
   stays out of the zip (:data:`PRUNE`): ``make deploy`` stages it in the models bucket (``MODEL_URI``).
5. Layers (:data:`LAYERS`): a heavy library that only some steps need (``crypto``, ``mail``, ``xlsx``)
   is not in the common requirements: pyproject's optional extra of that name is installed for the
   Lambda platform into ``<name>-layer.zip`` (``python/`` inside), pruned (:func:`shipped`), declared
   as a ``AWS::Serverless::LayerVersion`` and attached only to the functions whose code may import it
   (:func:`layers_needed` reads that from the import graph; the package tests hold the two equal).
   The zip is pruned the same way (:data:`PRUNE`: what no function ever loads).

``--staging`` builds from a temporary copy of the Chalice project instead of ``functions/``
itself (tests and ``make bench`` use it, so they leave nothing behind); ``--no-deps`` packages
with empty requirements, offline and fast.
"""
from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
SHARED = ROOT / "shared"
RESOURCES = ROOT / "infra" / "resources.yaml"
MERGE = ROOT / "infra" / "merge.yaml"
DEFAULT_OUT = ROOT / "dist" / "package"

# Provided by the Lambda Python runtime, or (chalice) added by Chalice's packager itself.
NOT_PACKAGED = {"boto3", "botocore", "s3transfer", "chalice"}
FUNCTION_POLICY = "FunctionResourcesPolicy"  # infra/merge.yaml: every function's
ATTACH_TO = "AttachTo"  # a managed policy's Metadata key in infra/merge.yaml: the functions it goes to
# The Sid of functions/.chalice/policy-base.json's logs statement, scoped to this account and region here
LOGS_STATEMENT = "WriteLogs"
LAMBDA_LOG_GROUPS = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*"
APP_PREFIX = "complaints-"  # names of the resources this template creates
SQS_CONSUMER_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueAttributes"]
TEMPLATE_SECTIONS = ("Parameters", "Conditions", "Globals", "Resources", "Outputs")
# layer name -> the app.py functions (Chalice's logical names) that get it; its packages: pyproject's
# optional extra of the same name
# (the report charts need none: they are drawn in pure Python). Which function needs which layer follows
# from the import graph (:func:`layers_needed`; tests/infrastructure/test_package.py holds them equal).
LAYERS: dict[str, tuple[str, ...]] = {
    # pycryptodome: AES-GCM of contact data (shared/crypto.py), RS256 staff tokens (shared/jws_rsa.py).
    # Every function reaches shared.crypto through the repository, but only these may use the PII key
    # (infra/merge.yaml); without it no data key, so nothing to encrypt or decrypt with.
    "crypto": ("APIHandler", "TakeInEmail", "NotifyCustomer", "FollowUpPrivacyRequests", "AnonymiseExpiredCases"),
    "mail": ("TakeInEmail",),  # selectolax: HTML mail bodies (functions/intake/mail/html_text.py)
    # openpyxl: XLSX exports (functions/reports/exports.py: GET /staff/reports/export, the report emails;
    # DetectRootCauses shares functions/reports/handlers.py with the report emails, so it may reach it too)
    "xlsx": ("APIHandler", "SendScheduledReports", "DetectRootCauses"),
}
# what code imports from each layer (top-level module names), for :func:`layers_needed`
LAYER_MODULES: dict[str, tuple[str, ...]] = {"crypto": ("Crypto",), "mail": ("selectolax",), "xlsx": ("openpyxl",)}
# Never loaded at run time, dropped from the deployment zip and every layer (fnmatch on the path inside
# it): type stubs; C and Cython sources of compiled extensions (selectolax ships a 3.3 MB lexbor.c); the
# holiday names' translations (calendars only ask whether a day is a holiday; names stay in the country's
# own language; 1.4 MB); Powertools' event handler and its OpenAPI (the app routes with Chalice; 2.6 MB)
# and the utilities the functions do not use (Logger, Tracer, Metrics and batch stay); pydantic's v1 copy
# and mypy plugin; dnspython, which email-validator loads only for deliverability (DNS) checks, and
# pydantic's EmailStr never asks for them. tests/infrastructure/test_package.py imports what the
# functions use from the pruned libraries alone.
PRUNE = ("*.pyi", "*.c", "*.h", "*.pyx", "*.pxd", "*.pxi", "holidays/locale/*", "aws_lambda_powertools/event_handler/*",
         *(f"aws_lambda_powertools/utilities/{u}/*" for u in (
             "auth_alpha", "circuit_breaker", "data_masking", "feature_flags", "idempotency", "kafka", "parameters",
             "parser", "streaming", "validation")),
         "pydantic/v1/*", "pydantic/mypy.py", "dns/*", "dnspython-*.dist-info/*",
         # the bundled classifier (0.8 MB zipped, in every function otherwise): make deploy uploads it
         # to the models bucket and sets MODEL_URI (infra/deploy.py), the router reads it from there
         "functions/router/models/*")
# A layer listed here keeps only these files (fnmatch on the path inside python/). pycryptodome is 11.6
# MB of ciphers, curves and post-quantum schemes; the functions use AES-GCM, SHA-256, RSA PKCS#1 v1.5
# verification (with the modules these import, CPU-specific variants included: Lambda picks at run time).
# RSA runs on Python's own integers (pycryptodome's fallback when its _nat extension is absent: 0.5 MB less;
# a signature check with e = 65537 is one short modular exponentiation).
LAYER_KEEP: dict[str, tuple[str, ...]] = {
    "crypto": ("Crypto/__init__.py", "Crypto/Cipher/__init__.py", "Crypto/Cipher/AES.py",
               "Crypto/Cipher/_mode_gcm.py", "Crypto/Cipher/_mode_ctr.py", "Crypto/Cipher/_mode_ecb.py",
               "Crypto/Cipher/_state_machine.py", "Crypto/Cipher/_raw_aes*.so", "Crypto/Cipher/_raw_ctr*.so",
               "Crypto/Cipher/_raw_ecb*.so", "Crypto/Hash/__init__.py", "Crypto/Hash/SHA256.py",
               "Crypto/Hash/_SHA256*.so", "Crypto/Hash/_ghash_*.so", "Crypto/Math/*.py",
               "Crypto/PublicKey/__init__.py", "Crypto/PublicKey/RSA.py", "Crypto/Random/*.py",
               "Crypto/Signature/__init__.py", "Crypto/Signature/pkcs1_15.py", "Crypto/Util/*.py",
               "Crypto/Util/*.so", "Crypto/IO/*.py", "pycryptodome-*.dist-info/*"),
}
LAMBDA_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--only-binary=:all:")


class PackagingError(RuntimeError):
    pass


@dataclass(frozen=True)
class Package:
    out_dir: Path
    zip_path: Path
    template_path: Path

    def template(self) -> dict[str, Any]:
        return json.loads(self.template_path.read_text(encoding="utf-8"))


# -- 1. vendor/ ---------------------------------------------------------------------------------
def step_packages(functions_dir: Path = FUNCTIONS) -> list[str]:
    """The packages under functions/ (directories with an __init__.py), vendor/ excepted."""
    return sorted(
        p.name for p in functions_dir.iterdir()
        if p.is_dir() and not p.is_symlink() and p.name != "vendor" and not p.name.startswith((".", "_"))
        and (p / "__init__.py").is_file()
    )


def step_modules(functions_dir: Path = FUNCTIONS) -> list[str]:
    """The modules directly under functions/ that app.py's handlers import (``app.py`` itself is the
    project's entry point: Chalice packages it at the zip root)."""
    return sorted(p.name for p in functions_dir.glob("*.py") if p.name not in ("__init__.py", "app.py"))


def write_vendor(project_dir: Path, functions_dir: Path = FUNCTIONS, shared_dir: Path = SHARED) -> Path:
    vendor = project_dir / "vendor"
    if vendor.is_symlink() or vendor.is_file():
        vendor.unlink()
    elif vendor.exists():
        shutil.rmtree(vendor)
    (vendor / "functions").mkdir(parents=True)
    shutil.copy2(functions_dir / "__init__.py", vendor / "functions" / "__init__.py")
    for module in step_modules(functions_dir):  # functions/audit_scope.py and the like
        shutil.copy2(functions_dir / module, vendor / "functions" / module)
    for name in step_packages(functions_dir):
        _link(vendor / "functions" / name, functions_dir / name)
    _link(vendor / "shared", shared_dir)
    return vendor


def _link(link: Path, target: Path) -> None:
    link.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)


# -- 2. requirements.txt -----------------------------------------------------------------------------
def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """pyproject's runtime dependencies pinned to the installed versions, minus NOT_PACKAGED."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    lines = []
    for spec in declared:
        req = Requirement(spec)
        if canonicalize_name(req.name) in NOT_PACKAGED:
            continue
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        marker = f"; {req.marker}" if req.marker else ""
        try:
            lines.append(f"{req.name}{extras}=={version(req.name)}{marker}")
        except PackageNotFoundError:
            lines.append(str(req))  # not installed here: let the packager resolve the range
    return lines


def write_requirements(project_dir: Path, no_deps: bool) -> Path:
    path = project_dir / "requirements.txt"
    header = ("# Generated by `make package` (infra/package.py) from pyproject.toml: do not edit.\n"
              "# boto3/botocore come with the Lambda runtime; chalice/app.py is added by Chalice.\n")
    body = "" if no_deps else "\n".join(runtime_requirements()) + "\n"
    path.write_text(header + body, encoding="utf-8")
    return path


def extra_requirements(extra: str, pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """pyproject's optional extra ``extra`` pinned to the installed versions (a layer's packages)."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["optional-dependencies"][extra]
    lines = []
    for spec in declared:
        req = Requirement(spec)
        try:
            lines.append(f"{req.name}=={version(req.name)}")
        except PackageNotFoundError:
            lines.append(str(req))
    return lines


def build_layer(name: str, out_dir: Path, *, no_deps: bool, python_version: str) -> Path:
    """``<out_dir>/<name>-layer.zip`` with the extra's packages under ``python/`` for the Lambda
    platform (binary wheels only); with ``no_deps`` an empty ``python/`` (offline tests)."""
    with tempfile.TemporaryDirectory(prefix=f"complaints-layer-{name}-") as tmp:
        target = Path(tmp) / "python"
        target.mkdir()
        if not no_deps:
            cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--target", str(target), "--python-version", python_version, *LAMBDA_PLATFORM,
                   *extra_requirements(name)]
            run = subprocess.run(cmd, text=True, capture_output=True)  # nosec B603  # this Python's pip, no shell
            if run.returncode:
                raise PackagingError(f"the {name} layer's packages could not be installed:\n{run.stderr[-2000:]}")
            for cache in target.rglob("__pycache__"):
                shutil.rmtree(cache, ignore_errors=True)
            for path in list(target.rglob("*")):
                if path.is_file() and not shipped(path.relative_to(target).as_posix(), name):
                    path.unlink()
        zip_path = out_dir / f"{name}-layer.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("python/", "")
            for path in sorted(target.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(Path(tmp)).as_posix())
    return zip_path


def shipped(path: str, layer: str | None = None) -> bool:
    """Whether a file (its path inside the zip, or inside a layer's ``python/``) is packaged: not in
    :data:`PRUNE`, and for a layer of :data:`LAYER_KEEP`, one of its files."""
    if any(fnmatch.fnmatchcase(path, pattern) for pattern in PRUNE):
        return False
    keep = LAYER_KEEP.get(layer or "")
    return keep is None or any(fnmatch.fnmatchcase(path, pattern) for pattern in keep)


def handler_modules(app_py: Path = FUNCTIONS / "app.py") -> dict[str, set[str]]:
    """Each function of ``app.py`` (Chalice's logical name; every route is ``APIHandler``) -> the modules
    it imports: ``app.py``'s own imports, and those inside its handlers' bodies."""
    import ast

    from chalice.utils import to_cfn_resource_name

    tree = ast.parse(app_py.read_text(encoding="utf-8"))
    handlers: dict[str, list[Any]] = {}
    common: set[str] = set()  # module level, middleware and helpers: every function may run them
    for node in tree.body:
        decorator = node.decorator_list[0] if isinstance(node, ast.FunctionDef) and node.decorator_list else None
        kind = decorator.func.attr if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute) else ""
        if kind in ("route", "on_sqs_message", "schedule", "on_s3_event", "on_dynamodb_record", "on_sns_message",
                    "on_cw_event", "lambda_function"):
            handlers.setdefault("APIHandler" if kind == "route" else to_cfn_resource_name(node.name), []).append(node)
        else:
            common.update(_imported(node, ""))
    return {fn: common | {m for node in nodes for m in _imported(node, "")} for fn, nodes in handlers.items()}


def _imported(node: Any, package: str) -> Iterator[str]:
    """Absolute names of the modules (and of ``from x import y``: ``x.y``) ``node`` imports, anywhere inside."""
    import ast

    for stmt in ast.walk(node):
        if isinstance(stmt, ast.Import):
            yield from (a.name for a in stmt.names)
        elif isinstance(stmt, ast.ImportFrom) and stmt.module != "__future__":
            base = stmt.module or ""
            if stmt.level:
                parts = package.split(".")[: len(package.split(".")) - stmt.level + 1]
                base = ".".join([*parts, *([stmt.module] if stmt.module else [])])
            yield base
            yield from (f"{base}.{a.name}" for a in stmt.names)


def reachable(modules: set[str], root: Path = ROOT) -> set[str]:
    """Every module ``modules`` may load: the project's modules are followed through all their imports,
    those inside functions too (a lazy import runs when that code does), parent packages included."""
    import ast

    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        base = root.joinpath(*name.split("."))
        source = base / "__init__.py" if (base / "__init__.py").is_file() else base.with_suffix(".py")
        # app.py itself (functions.openapi reads its routes): what each function runs of it, handler_modules says
        if name.split(".")[0] not in ("functions", "shared") or name == "functions.app" or not source.is_file():
            continue
        package = name if source.name == "__init__.py" else name.rpartition(".")[0]
        todo += [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        todo += list(_imported(ast.parse(source.read_text(encoding="utf-8")), package))
    return seen


def layers_needed(app_py: Path = FUNCTIONS / "app.py") -> dict[str, set[str]]:
    """Each function -> the layers whose libraries (:data:`LAYER_MODULES`) its code may import."""
    out = {}
    for fn, modules in handler_modules(app_py).items():
        tops = {m.split(".")[0] for m in reachable(modules)}
        out[fn] = {layer for layer, names in LAYER_MODULES.items() if tops & set(names)}
    return out


def add_layers(template: dict[str, Any], runtime: str) -> dict[str, Any]:
    """Declare each layer and attach it to its functions only."""
    template = copy.deepcopy(template)
    resources = template["Resources"]
    for name, functions in LAYERS.items():
        logical = name.capitalize() + "Layer"
        resources[logical] = {"Type": "AWS::Serverless::LayerVersion", "Properties": {
            "LayerName": {"Fn::Sub": f"complaints-${{Stage}}-{name}"},
            "Description": f"pyproject extra '{name}': libraries only these functions import: {', '.join(functions)}",
            "ContentUri": f"./{name}-layer.zip", "CompatibleRuntimes": [runtime], "RetentionPolicy": "Delete"}}
        for fn in functions:
            if fn not in resources:
                raise PackagingError(f"layer {name}: no function {fn} in the template (app.py renamed it?)")
            layers = resources[fn]["Properties"].setdefault("Layers", [])
            if {"Ref": logical} not in layers:
                layers.append({"Ref": logical})
    return template


# -- 3. merge template ----------------------------------------------------------------------------------
def load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def merge_template(stage: str) -> dict[str, Any]:
    """resources.yaml + merge.yaml, with the Stage parameter tied to the Chalice stage.

    Chalice builds names such as an SQS event source's queue ARN from literal names in app.py
    for that stage, so deploying the dev package with another Stage would point at the wrong
    resources: the parameter allows the packaged stage only.
    """
    base, extra = load_yaml(RESOURCES), load_yaml(MERGE)
    merged: dict[str, Any] = {k: v for k, v in base.items() if k not in TEMPLATE_SECTIONS}
    for section in TEMPLATE_SECTIONS:
        left, right = base.get(section) or {}, extra.get(section) or {}
        clash = set(left) & set(right)
        if clash:
            raise PackagingError(f"{MERGE.name} redefines {section} of {RESOURCES.name}: {sorted(clash)}")
        if left or right:
            merged[section] = {**left, **right}
    stage_param = merged.setdefault("Parameters", {}).setdefault("Stage", {"Type": "String"})
    stage_param["Default"] = stage
    stage_param["AllowedValues"] = [stage]
    stage_param.pop("AllowedPattern", None)
    return merged


# -- 4. post-processing --------------------------------------------------------------------------------
def post_process(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """What depends on the functions app.py declares, so no static merge can say it.

    * every role Chalice made gets the functions' managed policy (FunctionResourcesPolicy), and each
      other managed policy of the template goes to the roles of the functions its ``Metadata.AttachTo``
      names (a name app.py does not declare fails the build);
    * the logs statement of ``functions/.chalice/policy-base.json`` (``WriteLogs``: a static file, so
      any partition, region and account) is scoped to this account's and region's Lambda log groups;
    * every SQS event source gets ``FunctionResponseTypes: [ReportBatchItemFailures]`` (Chalice
      never sets it; Powertools' BatchProcessor reports partial failures through it); its queue,
      when the template creates it, becomes a ``Fn::GetAtt`` (Chalice writes an ARN from the
      name, which gives CloudFormation no order: the mapping could be created before the queue);
      and the function's role gets an inline policy consuming that queue only;
    * the log group Chalice makes for the API handler refers to ``${ApiHandler}`` while the
      function is called ``APIHandler`` (chalice 1.34): the reference is corrected.
    """
    template = copy.deepcopy(template)
    resources: dict[str, Any] = template["Resources"]
    if FUNCTION_POLICY not in resources:
        raise PackagingError(f"{FUNCTION_POLICY} missing from the merged template")
    _fix_log_group_references(resources)
    queues = _queues_by_name(resources, stage)
    attached = _attached_policies(resources)

    for fn_name, fn in _functions(resources):
        props = fn["Properties"]
        role_name = _role_of(fn_name, props, resources)
        role = resources[role_name]["Properties"]
        managed = role.setdefault("ManagedPolicyArns", [])
        for policy in (FUNCTION_POLICY, *attached.pop(fn_name, ())):
            if {"Ref": policy} not in managed:
                managed.append({"Ref": policy})
        _scope_log_statements(role)

        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            ev = event.setdefault("Properties", {})
            types = ev.setdefault("FunctionResponseTypes", [])
            if "ReportBatchItemFailures" not in types:
                types.append("ReportBatchItemFailures")
            queue_arn = ev["Queue"]
            queue_name = _queue_name_of(queue_arn) or ""
            queue_logical = queues.get(queue_name)
            if queue_logical:
                queue_arn = ev["Queue"] = {"Fn::GetAtt": [queue_logical, "Arn"]}
            elif queue_name.startswith(APP_PREFIX):
                raise PackagingError(
                    f"{fn_name} consumes queue {queue_name!r}, which this template does not create for stage "
                    f"{stage!r} (known: {sorted(queues)}); name queues in app.py after the stage, e.g. "
                    f"queue=f\"complaints-{{os.environ.get('STAGE', 'dev')}}-router\" (Chalice sets the "
                    "stage's environment variables before it imports app.py)")
            role.setdefault("Policies", []).append({
                "PolicyName": f"{event_name}Consume",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": list(SQS_CONSUMER_ACTIONS), "Resource": queue_arn},
                ]},
            })
    if attached:
        policies = sorted({p for ps in attached.values() for p in ps})
        raise PackagingError(f"{', '.join(policies)} ({MERGE.name}) attach to {sorted(attached)}, which app.py does "
                             f"not declare (known: {sorted(name for name, _ in _functions(resources))})")
    return template


def _attached_policies(resources: dict[str, Any]) -> dict[str, list[str]]:
    """function logical name -> the managed policies whose ``Metadata.AttachTo`` names it."""
    out: dict[str, list[str]] = {}
    for name, res in resources.items():
        if res.get("Type") != "AWS::IAM::ManagedPolicy" or name == FUNCTION_POLICY:
            continue
        targets = (res.get("Metadata") or {}).get(ATTACH_TO) or []
        for fn in [targets] if isinstance(targets, str) else targets:
            out.setdefault(fn, []).append(name)
    return out


def _scope_log_statements(role: dict[str, Any]) -> None:
    for policy in role.get("Policies") or []:
        for statement in policy.get("PolicyDocument", {}).get("Statement", []):
            if statement.get("Sid") == LOGS_STATEMENT:
                statement["Resource"] = {"Fn::Sub": LAMBDA_LOG_GROUPS}


def _functions(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, res in resources.items():
        if res.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            yield name, res


def _role_of(fn_name: str, props: dict[str, Any], resources: dict[str, Any]) -> str:
    role = props.get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        name = role["Fn::GetAtt"][0]
        if resources.get(name, {}).get("Type") == "AWS::IAM::Role":
            return name
    raise PackagingError(f"function {fn_name} has no role created by this template ({role!r}); "
                         "keep manage_iam_role on in functions/.chalice/config.json")


def _queues_by_name(resources: dict[str, Any], stage: str) -> dict[str, str]:
    out = {}
    for name, res in resources.items():
        if res.get("Type") != "AWS::SQS::Queue":
            continue
        queue_name = (res.get("Properties") or {}).get("QueueName")
        if isinstance(queue_name, dict) and isinstance(queue_name.get("Fn::Sub"), str):
            queue_name = queue_name["Fn::Sub"].replace("${Stage}", stage)
        if isinstance(queue_name, str) and "${" not in queue_name:
            out[queue_name] = name
    return out


def _queue_name_of(arn: Any) -> str | None:
    if isinstance(arn, dict) and isinstance(arn.get("Fn::Sub"), str):
        arn = arn["Fn::Sub"]
    if isinstance(arn, str) and arn.startswith("arn:"):
        return arn.rsplit(":", 1)[-1]
    return None


def _fix_log_group_references(resources: dict[str, Any]) -> None:
    by_lower = {name.lower(): name for name in resources}
    for res in resources.values():
        if res.get("Type") != "AWS::Logs::LogGroup":
            continue
        props = res.get("Properties") or {}
        sub = (props.get("LogGroupName") or {}).get("Fn::Sub") if isinstance(props.get("LogGroupName"), dict) else None
        if not isinstance(sub, str):
            continue

        def fix(m: re.Match[str]) -> str:
            ref = m.group(1)
            if ref in resources or "::" in ref or "." in ref:
                return m.group(0)
            return "${%s}" % by_lower.get(ref.lower(), ref)

        props["LogGroupName"] = {"Fn::Sub": re.sub(r"\$\{([^}!]+)\}", fix, sub)}


# -- zip -----------------------------------------------------------------------------------------
# Our code gets bytecode in the zip: /var/task is read-only, so without it every cold start compiles
# ~5,000 lines of shared/ and functions/ (~50 ms of CPU, more than the cold-start budget's margin).
# The dependencies do not (3 MB more zipped, over the size target): they compile on a cold start.
OUR_CODE = ("app.py", "functions/", "shared/")


def bytecode(source: bytes, filename: str) -> bytes:
    """PEP 552 unchecked hash-based bytecode: Python loads it whatever timestamps the zip keeps (the
    source next to it is the one it was compiled from, so there is nothing to check)."""
    import importlib.util
    import marshal

    code = compile(source, filename, "exec", dont_inherit=True)
    return importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little") + importlib.util.source_hash(source) \
        + marshal.dumps(code)


REQUIRED_IN_ZIP = ("app.py", "chalice/app.py", "functions/__init__.py", "shared/__init__.py")
FORBIDDEN_PREFIXES = ("vendor/", "tests/", ".venv/", "chalicelib/", ".chalice/")


def tidy_zip(zip_path: Path, runtime: str | None = None) -> list[str]:
    """Drop the bytecode pip wrote (timestamp-checked: zip timestamps have a 2 s grain, so Python would
    ignore it) and what :data:`PRUNE` names, add hash-based bytecode for our own code (:func:`bytecode`)
    when this Python is the functions' runtime, and check the tree."""
    tmp = zip_path.with_suffix(".tmp")
    compile_ours = runtime == f"python{sys.version_info.major}.{sys.version_info.minor}"
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if "__pycache__/" in info.filename or info.filename.endswith((".pyc", ".pyo")):
                continue
            if not shipped(info.filename):  # PRUNE: never loaded at run time
                continue
            data = src.read(info.filename)
            dst.writestr(info, data)
            if compile_ours and info.filename.endswith(".py") and info.filename.startswith(OUR_CODE):
                folder, _, name = info.filename.rpartition("/")
                cached = f"{folder}/__pycache__/{name[:-3]}.{sys.implementation.cache_tag}.pyc".lstrip("/")
                dst.writestr(cached, bytecode(data, info.filename))
    tmp.replace(zip_path)
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
    missing = [n for n in REQUIRED_IN_ZIP if n not in names]
    stray = sorted({n.split("/", 1)[0] for n in names if n.startswith(FORBIDDEN_PREFIXES)})
    if missing or stray:
        raise PackagingError(f"{zip_path}: missing {missing}, unexpected {stray}")
    for step in step_packages():
        if f"functions/{step}/__init__.py" not in names:
            raise PackagingError(f"{zip_path}: functions/{step}/ was not packaged (symlink not followed?)")
    for module in step_modules():
        if f"functions/{module}" not in names:
            raise PackagingError(f"{zip_path}: functions/{module} was not packaged")
    return names


# -- cfn-lint ------------------------------------------------------------------------------------
def lint(template_path: Path, regions: tuple[str, ...] = ("us-east-1",)) -> list[Any]:
    """cfn-lint matches (with ``.rule.id`` E..., W..., I...). The SAM transform needs aws-sam-translator."""
    from cfnlint.api import ManualArgs, lint_file

    return lint_file(template_path, config=ManualArgs(regions=list(regions)))


def lint_errors(matches: list[Any]) -> list[Any]:
    return [m for m in matches if str(m.rule.id).startswith("E")]


# -- the whole build -----------------------------------------------------------------------------
def chalice_project(staging: Path | None, app_source: Path | None = None) -> Path:
    """The directory `chalice package` runs in: functions/ itself, or a copy of its Chalice files
    (with ``app_source`` as its app.py, tests package variants of the app this way)."""
    if staging is None:
        if app_source is not None:
            raise PackagingError("app_source needs a staging directory")
        return FUNCTIONS
    staging.mkdir(parents=True, exist_ok=True)
    shutil.copy2(app_source or FUNCTIONS / "app.py", staging / "app.py")
    shutil.copytree(FUNCTIONS / ".chalice", staging / ".chalice", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("deployments", "deployed"))
    return staging


def build(out_dir: Path = DEFAULT_OUT, *, stage: str = "dev", no_deps: bool = False,
          staging: Path | None = None, app_source: Path | None = None, quiet: bool = False) -> Package:
    out_dir = Path(out_dir).resolve()
    project = chalice_project(staging, app_source)
    write_vendor(project)
    write_requirements(project, no_deps)

    if out_dir.exists():
        shutil.rmtree(out_dir)
    with tempfile.TemporaryDirectory(prefix="complaints-merge-") as tmp:
        merge_file = Path(tmp) / "merge.json"
        merge_file.write_text(json.dumps(merge_template(stage), indent=2), encoding="utf-8")
        env = dict(os.environ)
        # Chalice asks botocore for the region only to name service principals; no AWS call is made.
        if not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
            env["AWS_DEFAULT_REGION"] = "us-east-1"
        cmd = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
               "--project-dir", str(project), "package", "--stage", stage,
               "--merge-template", str(merge_file), "--template-format", "json", str(out_dir)]
        run = subprocess.run(cmd, cwd=project, env=env, text=True, capture_output=True)  # nosec B603  # no shell
        if not quiet or run.returncode:
            sys.stdout.write(run.stdout)
            sys.stderr.write(run.stderr)
        if run.returncode:
            raise PackagingError(f"chalice package failed ({run.returncode})")
    _prune_deployment_cache(project)

    template_path = out_dir / "sam.json"
    template = post_process(json.loads(template_path.read_text(encoding="utf-8")), stage)
    runtime = template.get("Globals", {}).get("Function", {}).get("Runtime") or next(
        (f["Properties"]["Runtime"] for _, f in _functions(template["Resources"]) if "Runtime" in f["Properties"]),
        "python3.11")
    for name in LAYERS:
        build_layer(name, out_dir, no_deps=no_deps, python_version=runtime.removeprefix("python"))
    template = add_layers(template, runtime)
    template_path.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")
    zip_path = out_dir / "deployment.zip"
    tidy_zip(zip_path, runtime)
    return Package(out_dir, zip_path, template_path)


def _prune_deployment_cache(project: Path) -> None:
    """Chalice caches one zip per content hash in .chalice/deployments/: keep the newest only."""
    cache = project / ".chalice" / "deployments"
    zips = sorted(cache.glob("*.zip"), key=lambda p: p.stat().st_mtime) if cache.is_dir() else []
    for old in zips[:-1]:
        old.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default="dev", help="Chalice stage (functions/.chalice/config.json)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default dist/package)")
    parser.add_argument("--no-deps", action="store_true", help="empty requirements (offline; for tests)")
    parser.add_argument("--staging", action="store_true",
                        help="build from a temporary copy of the Chalice project, leaving functions/ untouched")
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    args = parser.parse_args(argv)

    try:
        if args.staging:
            with tempfile.TemporaryDirectory(prefix="complaints-chalice-") as tmp:
                pkg = build(args.out, stage=args.stage, no_deps=args.no_deps, staging=Path(tmp))
        else:
            pkg = build(args.out, stage=args.stage, no_deps=args.no_deps)
    except PackagingError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    size = pkg.zip_path.stat().st_size / 1e6
    print(f"package: {pkg.zip_path.relative_to(ROOT) if pkg.zip_path.is_relative_to(ROOT) else pkg.zip_path}"
          f" ({size:.1f} MB), template {pkg.template_path.name}")
    if args.no_lint:
        return 0
    matches = lint(pkg.template_path)
    for m in matches:
        print(f"cfn-lint: {m}")
    errors = lint_errors(matches)
    print(f"cfn-lint: {len(errors)} error(s), {len(matches) - len(errors)} warning(s)/info")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
