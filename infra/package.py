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
   depends on what ``app.py`` declares (see :func:`post_process`), then a check of the zip (no
   ``__pycache__``: its timestamps would not survive the zip anyway) and cfn-lint.
5. Layers (:data:`LAYERS`): a heavy library that one step needs (matplotlib for the report charts)
   is not in the common requirements: pyproject's optional extra of that name is installed for the
   Lambda platform into ``<name>-layer.zip`` (``python/`` inside), declared as a
   ``AWS::Serverless::LayerVersion`` and attached only to the functions that import it.

``--staging`` builds from a temporary copy of the Chalice project instead of ``functions/``
itself (tests and ``make bench`` use it, so they leave nothing behind); ``--no-deps`` packages
with empty requirements, offline and fast.
"""
from __future__ import annotations

import argparse
import copy
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
LAYERS: dict[str, tuple[str, ...]] = {"reports": ("SendScheduledReports",)}
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
        zip_path = out_dir / f"{name}-layer.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("python/", "")
            for path in sorted(target.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(Path(tmp)).as_posix())
    return zip_path


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
REQUIRED_IN_ZIP = ("app.py", "chalice/app.py", "functions/__init__.py", "shared/__init__.py")
FORBIDDEN_PREFIXES = ("vendor/", "tests/", ".venv/", "chalicelib/", ".chalice/")


def tidy_zip(zip_path: Path) -> list[str]:
    """Drop bytecode (zip timestamps have a 2 s grain, so Python would ignore it) and check the tree."""
    tmp = zip_path.with_suffix(".tmp")
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if "__pycache__/" in info.filename or info.filename.endswith((".pyc", ".pyo")):
                continue
            dst.writestr(info, src.read(info.filename))
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
    tidy_zip(zip_path)
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
