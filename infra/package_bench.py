"""Package size and cold-start proxy per function, for the issue note (``var/bench/package.json``).

Size. ``make package`` ships one zip for every function (the code plus pyproject's runtime
dependencies, boto3/botocore/s3transfer excepted: the Lambda runtime has them) and the layers of
``package.LAYERS`` for the functions they go to. Offline, the zip is rebuilt here from the project's
``--no-deps`` package plus the installed files of every runtime distribution and its dependencies (the
same wheels pip would put in, bytecode left out as ``tidy_zip`` does), so the numbers do not need
PyPI; ``package.shipped`` prunes them as ``make package`` does. Per function: the shared zip, plus its
layers (``crypto``, ``mail``, ``xlsx``). Targets: <= 8 MB zipped, <= 40 MB unzipped.

Cold start. For each function, a fresh interpreter in the unzipped package imports ``app`` and then
the handler module(s) its body imports on the first invocation (read from ``app.py``'s syntax tree, so
a new function is measured without listing it here); another imports ``boto3``. Seven runs of each,
alternated, medians compared; target ``<= 1.3``. (Third-party packages come from the venv, as in
``infra/bench.py``'s cold-start figure.)

``python -m infra.package_bench`` prints the table; ``make bench`` runs it too.
"""
from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
import tempfile
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench" / "package.json"
ZIPPED_TARGET_MB, UNZIPPED_TARGET_MB, COLD_TARGET = 8.0, 40.0, 1.3
# the API function: its hot route at a peak (POST /complaints), and every route's module at once (for
# information: no container imports them all on its cold start)
API_INTAKE, ALL_ROUTES = "api_handler (POST /complaints)", "api_handler (every route, information)"


# -- what each function imports ------------------------------------------------------------------------
def function_imports(app_py: Path = ROOT / "functions" / "app.py") -> dict[str, list[str]]:
    """Chalice function name (the decorated function's name) -> the modules its body imports."""
    tree = ast.parse(app_py.read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.decorator_list:
            continue
        decorator = node.decorator_list[0]
        kind = decorator.func.attr if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute) else ""
        if kind not in ("route", "on_sqs_message", "schedule", "on_s3_event", "on_dynamodb_record", "lambda_function"):
            continue
        modules = []
        for stmt in ast.walk(node):
            if isinstance(stmt, ast.ImportFrom) and stmt.module:
                modules += [f"{stmt.module}.{a.name}" if stmt.module.startswith("functions") else stmt.module
                            for a in stmt.names]
            elif isinstance(stmt, ast.Import):
                modules += [a.name for a in stmt.names]
        name = ALL_ROUTES if kind == "route" else node.name
        out.setdefault(name, [])
        out[name] = sorted(set(out[name]) | set(modules))
    if ALL_ROUTES in out:  # a cold API container imports the module of the route it serves
        out[API_INTAKE] = [m for m in out[ALL_ROUTES] if m == "functions.intake.api"]
    return out


# -- size ------------------------------------------------------------------------------------------------------
def _closure(requirements: list[str]) -> list[Any]:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from infra.package import NOT_PACKAGED

    seen: dict[str, Any] = {}
    todo = [(Requirement(r), ()) for r in requirements]
    while todo:
        req, _ = todo.pop()
        name = canonicalize_name(req.name)
        if name in NOT_PACKAGED or name in seen:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue
        seen[name] = dist
        for spec in dist.requires or []:
            sub = Requirement(spec)
            envs = [{"extra": e} for e in (req.extras or {""})]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append((sub, ()))
    return list(seen.values())


def _files(dists: list[Any]) -> list[tuple[Path, str]]:
    out = []
    for dist in dists:
        for f in dist.files or []:
            rel = str(f)
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith((".pyc", ".pyo")):
                continue
            path = Path(dist.locate_file(f))
            if path.is_file():
                out.append((path, rel))
    return out


def _zip_size(entries: list[tuple[Path | bytes, str]], path: Path) -> tuple[int, int]:
    unzipped = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for src, name in entries:
            data = src if isinstance(src, bytes) else src.read_bytes()
            unzipped += len(data)
            z.writestr(name, data)
    return path.stat().st_size, unzipped


def sizes(tmp: Path) -> dict[str, Any]:
    from infra import package

    pkg = package.build(tmp / "out", no_deps=True, staging=tmp / "project", quiet=True)
    with zipfile.ZipFile(pkg.zip_path) as z:
        code = [(z.read(n), n) for n in z.namelist() if not n.endswith("/")]
    deps = _closure(package.runtime_requirements())
    # what make package ships: package.shipped() drops PRUNE from the zip, and from each layer what its
    # LAYER_KEEP does not list
    base_zipped, base_unzipped = _zip_size(code + [(p, rel) for p, rel in _files(deps) if package.shipped(rel)],
                                           tmp / "deployment.zip")
    code_zipped, code_unzipped = _zip_size(code, tmp / "code.zip")
    layers = {}
    for name in package.LAYERS:
        layer_dists = _closure(package.extra_requirements(name))
        known = {d.metadata["Name"] for d in deps}
        layer_files = [(p, f"python/{rel}") for p, rel in _files([d for d in layer_dists if d.metadata["Name"] not in known])
                       if package.shipped(rel, name)]
        layers[name] = dict(zip(("zipped", "unzipped"), _zip_size(layer_files, tmp / f"{name}.zip")))
    template = pkg.template()
    functions = {}
    for logical, res in template["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        attached = [n for n in package.LAYERS if {"Ref": n.capitalize() + "Layer"} in (res["Properties"].get("Layers") or [])]
        zipped = base_zipped + sum(layers[n]["zipped"] for n in attached)
        unzipped = base_unzipped + sum(layers[n]["unzipped"] for n in attached)
        functions[logical] = {"layers": attached, "zipped_mb": round(zipped / 1e6, 2), "unzipped_mb": round(unzipped / 1e6, 2),
                              "met": zipped / 1e6 <= ZIPPED_TARGET_MB and unzipped / 1e6 <= UNZIPPED_TARGET_MB}
    return {
        "distributions": sorted(d.metadata["Name"] for d in deps),
        "code_zipped_mb": round(code_zipped / 1e6, 2), "code_unzipped_mb": round(code_unzipped / 1e6, 2),
        "shared_zip_zipped_mb": round(base_zipped / 1e6, 2), "shared_zip_unzipped_mb": round(base_unzipped / 1e6, 2),
        "layers_mb": {n: {k: round(v / 1e6, 2) for k, v in s.items()} for n, s in layers.items()},
        "functions": functions, "target_zipped_mb": ZIPPED_TARGET_MB, "target_unzipped_mb": UNZIPPED_TARGET_MB,
        "met": all(f["met"] for f in functions.values()),
    }


# -- cold start ----------------------------------------------------------------------------------------------
def cold_starts(tmp: Path, runs: int) -> dict[str, Any]:
    from infra import package
    from infra.bench import IMPORT_BOTO3, _check_imported_from, _clean_env, _timed

    pkg = package.build(tmp / "out2", no_deps=True, staging=tmp / "project2", quiet=True)
    root = tmp / "task"
    with zipfile.ZipFile(pkg.zip_path) as z:
        z.extractall(root)
    env = _clean_env()
    # the functions' own environment (functions/.chalice/config.json), as Lambda sets it before the import
    config = json.loads((ROOT / "functions" / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env.update(config.get("environment_variables", {}))
    imports = function_imports()
    codes = {fn: "import app; " + "; ".join(f"import {m}" for m in mods) + "; print(app.__file__)"
             for fn, mods in imports.items()}
    for code in codes.values():  # warm the file cache, check where the code comes from
        _check_imported_from(root, _timed(code, root, env)[1])
    boto3_times: list[float] = []
    times: dict[str, list[float]] = {fn: [] for fn in codes}
    for _ in range(runs):
        boto3_times.append(_timed(IMPORT_BOTO3, root, env)[0])
        for fn, code in codes.items():
            times[fn].append(_timed(code, root, env)[0])
    base = statistics.median(boto3_times)
    out = {fn: {"imports": imports[fn], "median_ms": round(statistics.median(t) * 1000, 1),
                "ratio": round(statistics.median(t) / base, 3), "met": statistics.median(t) / base <= COLD_TARGET}
           for fn, t in times.items()}
    return {"runs": runs, "import_boto3_median_ms": round(base * 1000, 1), "functions": out,
            "target_ratio": COLD_TARGET, "met": all(f["met"] for fn, f in out.items() if fn != ALL_ROUTES)}


def run(runs: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="complaints-package-bench-") as tmp:
        return {"size": sizes(Path(tmp)), "cold_start": cold_starts(Path(tmp), runs)}


def summary_lines(r: dict[str, Any]) -> list[str]:
    s, c = r["size"], r["cold_start"]
    lines = [f"package:    shared zip {s['shared_zip_zipped_mb']} MB zipped / {s['shared_zip_unzipped_mb']} MB unzipped "
             f"(our code {s['code_zipped_mb']} / {s['code_unzipped_mb']} MB); layers "
             + ", ".join(f"{n} {v['zipped']} / {v['unzipped']} MB" for n, v in s["layers_mb"].items())
             + f"; targets <= {ZIPPED_TARGET_MB:g} / {UNZIPPED_TARGET_MB:g} MB {'OK' if s['met'] else 'MISSED'}"]
    for fn, f in s["functions"].items():
        if f["layers"]:
            lines.append(f"            {fn}: {f['zipped_mb']} / {f['unzipped_mb']} MB with {', '.join(f['layers'])}")
    lines.append(f"cold start: import boto3 {c['import_boto3_median_ms']} ms (median of {c['runs']}); per function "
                 f"(target <= {COLD_TARGET}) {'OK' if c['met'] else 'MISSED'}:")
    for fn, f in sorted(c["functions"].items(), key=lambda kv: -kv[1]["ratio"]):
        lines.append(f"            {fn:<28} {f['median_ms']:>6} ms  x{f['ratio']:.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    result = run(args.runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for line in summary_lines(result):
        sys.stdout.write(line + "\n")
    return 0 if result["size"]["met"] and result["cold_start"]["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
