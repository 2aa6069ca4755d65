"""`make bench`: two figures that guard the cost of running the intake, written to .bench/results.json.

(a) Cold-start proxy. The package is built (``--no-deps``, in a temporary directory) and unzipped;
    a fresh interpreter imports ``app`` from the unzipped files, the way Lambda's bootstrap does on
    a cold start, and another fresh interpreter imports ``boto3``, which every function pays anyway
    on its first AWS call. Seven runs of each, alternated, none discarded; the target is
    ``median(import app) / median(import boto3) <= 1.3``. The import of the intake's handler module
    (what the first ``POST /complaints`` adds) is measured too, for information.
    Third-party packages come from the venv's site-packages; the project's own code must come from
    the unzipped package (checked: ``app``, ``functions`` and ``shared`` are imported from there).

(b) AWS calls per accepted complaint. In moto (in-process), with the resources of
    ``infra/resources.yaml``, N complaints are submitted through Chalice's test client and every
    botocore API call is counted per operation (``before-call`` events, so retries are not counted
    twice). The first complaint is reported apart: it pays for the KMS data key and the HMAC
    secret that a warm container keeps. Target: <= 3 calls per complaint warm.

Further sections: the pipeline's cost per 1,000 complaints (``infra/pipeline_bench.py``:
``var/bench/pipeline.json``, docs/scaling.md), the pipeline's throughput in-process against moto's raw
PutItem rate in the same run (``infra/throughput_bench.py``: ``var/bench/throughput.json``), package size and cold start per function
(``infra/package_bench.py``: ``var/bench/package.json``), the email corpus, duplicate detection, the SLA sweep's cost at 1,000 vs 100,000
open cases with 50 due (``infra/sweep_bench.py``: it must not grow with the open cases; skip with
``--without-sweep``), assignment fairness over 10,000 simulated cases (``infra/fairness_bench.py``),
spike detection on simulated daily series (``infra/spike_bench.py``: detection delay and false alarms
per 30 days, also written to ``var/bench/spikes.json``), clusters of similar texts on real complaints
(``infra/text_cluster_bench.py``: false alarms per 30 days, planted problems found;
``var/bench/text_clusters.json``), a month's report with 10,000 and 200,000
complaints in the store (``infra/report_bench.py``: items read and time must not grow with the
complaints; ``var/bench/report.json``; skip with ``--without-report``), the classifier's
cross-validation (skip with ``--without-classifier``), and the load test: 10,000 complaints over HTTP
and SMTP through a local stack the bench starts itself, each verified in the store (``infra/loadtest.py``:
throughput, p50/p99 per step; ``var/bench/loadtest.json``; skip with ``--without-loadtest``).
The hostile-mail fuzzer over the MIME parser and the email intake: ``python -m infra.fuzz_bench
--inputs 100000`` (``infra/fuzz_bench.py``: inputs, outcomes by kind, exceptions (must be 0), inputs/s;
``var/bench/fuzz.json``). With ``--faults [SPEC]``, a load test of ``--faults-complaints`` (2,000) against
a stack whose AWS calls fail at 20% (``infra/faults.py``; ``var/bench/faults.json``: the verdict and
the faults injected, retried and surfaced). At the end, ``infra/bench_summary.py`` gathers the headline
figures of every section's file, targets met or not, into ``var/bench/summary.json`` and prints them.

Not part of ``make test``: timings depend on the machine.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / ".bench" / "results.json"
RUNS = 7
COMPLAINTS = 50
COLD_START_TARGET = 1.3
CALLS_TARGET = 3.0

IMPORT_APP = "import app; print(app.__file__)"
IMPORT_BOTO3 = "import boto3"
IMPORT_HANDLER = ("import app; from functions.intake import api; import functions, shared; "
                  "print(app.__file__); print(functions.__file__); print(shared.__file__)")


# -- (a) cold start ---------------------------------------------------------------------------------
def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # as in Lambda: /var/task is read-only, no __pycache__ is written
    return env


def _timed(code: str, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if run.returncode:
        raise RuntimeError(f"`python -c {code!r}` failed in {cwd}:\n{run.stderr}")
    return elapsed, run.stdout


def _check_imported_from(root: Path, stdout: str) -> None:
    for line in stdout.split():
        path = Path(line).resolve()
        if not path.is_relative_to(root.resolve()):
            raise RuntimeError(f"imported {path} from outside the unzipped package {root}")


def cold_start(runs: int = RUNS) -> dict[str, Any]:
    from infra import package

    with tempfile.TemporaryDirectory(prefix="complaints-bench-") as tmp:
        tmp_path = Path(tmp)
        pkg = package.build(tmp_path / "out", no_deps=True, staging=tmp_path / "project", quiet=True)
        root = tmp_path / "task"
        with zipfile.ZipFile(pkg.zip_path) as z:
            z.extractall(root)
        env = _clean_env()

        # warm the OS file cache once, and check where the code comes from
        _check_imported_from(root, _timed(IMPORT_HANDLER, root, env)[1])
        _timed(IMPORT_BOTO3, root, env)

        app_times, boto3_times, handler_times = [], [], []
        for _ in range(runs):
            elapsed, out = _timed(IMPORT_APP, root, env)
            _check_imported_from(root, out)
            app_times.append(elapsed)
            boto3_times.append(_timed(IMPORT_BOTO3, root, env)[0])
        for _ in range(runs):
            handler_times.append(_timed(IMPORT_HANDLER, root, env)[0])

    app_median, boto3_median = statistics.median(app_times), statistics.median(boto3_times)
    ratio = app_median / boto3_median
    return {
        "runs": runs,
        "import_app_seconds": [round(t, 4) for t in app_times],
        "import_boto3_seconds": [round(t, 4) for t in boto3_times],
        "import_app_median_seconds": round(app_median, 4),
        "import_boto3_median_seconds": round(boto3_median, 4),
        "ratio": round(ratio, 3),
        "target_ratio": COLD_START_TARGET,
        "met": ratio <= COLD_START_TARGET,
        "import_app_and_intake_handler_median_seconds": round(statistics.median(handler_times), 4),
    }


# -- (b) AWS calls per complaint ------------------------------------------------------------------------
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "STAGE": "dev", "POWERTOOLS_LOG_LEVEL": "WARNING", "LOG_LEVEL": "WARNING",
}


class CallCounter:
    """Counts botocore API calls (one per operation invoked, retries excluded) by ``service.Operation``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any = None, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def take(self) -> Counter[str]:
        taken, self.calls = self.calls, Counter()
        return taken


def complaint_body(i: int) -> dict[str, Any]:
    return {
        "description": f"Benchmark complaint {i}: the parcel arrived damaged and the product leaked.",
        "customer": {"name": f"Customer {i}", "email": f"customer{i}@example.com"},
    }


@contextlib.contextmanager
def fake_aws_environment(**extra: str) -> Iterator[None]:
    """moto's fake credentials and region instead of any real AWS setting, for one in-process bench run
    (``extra``: more variables); the environment is restored afterwards."""
    saved = dict(os.environ)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(key, None)
    os.environ.update({**FAKE_AWS_ENV, **extra})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def submit_complaint(client: Any, body: dict[str, Any], i: int) -> dict[str, Any]:
    """``POST /complaints`` through Chalice's test client; the answer's JSON (anything but 201 stops the run)."""
    response = client.http.post("/complaints", body=json.dumps(body), headers={"Content-Type": "application/json"})
    if response.status_code != 201:
        raise RuntimeError(f"complaint {i}: {response.status_code} {response.body[:500]!r}")
    return json.loads(response.body)


def aws_calls(n: int = COMPLAINTS) -> dict[str, Any]:
    with fake_aws_environment():
        return _aws_calls(n)


def _aws_calls(n: int) -> dict[str, Any]:
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from infra.moto_stack import boto3_clients, create_resources, environment
    from shared import store

    counter = CallCounter()
    with mock_aws():
        # resources are created through a separate session, so their calls are not counted
        os.environ.update(environment(create_resources(boto3_clients(), "dev", "us-east-1")))
        # shared/aws.py creates its clients from boto3's default session: hook it before any exists
        boto3.setup_default_session(region_name="us-east-1")
        boto3.DEFAULT_SESSION.events.register("before-call", counter)
        store.reset()
        _forget_intake()

        from functions.app import app

        per_complaint: list[Counter[str]] = []
        with Client(app) as client:
            for i in range(n):
                submit_complaint(client, complaint_body(i), i)
                per_complaint.append(counter.take())
        store.reset()
        _forget_intake()
        boto3.DEFAULT_SESSION = None

    first, warm = per_complaint[0], per_complaint[1:]
    warm_total: Counter[str] = sum(warm, Counter())
    warm_average = sum(warm_total.values()) / max(len(warm), 1)
    return {
        "complaints": n,
        "first_complaint_calls": dict(sorted(first.items())),
        "first_complaint_total": sum(first.values()),
        "warm_calls_total_by_operation": dict(sorted(warm_total.items())),
        "warm_calls_per_complaint": round(warm_average, 3),
        "warm_max_calls_in_one_complaint": max((sum(c.values()) for c in warm), default=0),
        "target_per_complaint": CALLS_TARGET,
        "met": warm_average <= CALLS_TARGET,
    }


def _forget_intake() -> None:
    try:
        from functions.intake import api

        api.intake.cache_clear()
    except (ImportError, AttributeError):
        pass


# -- report ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--complaints", type=int, default=COMPLAINTS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--without-classifier", dest="with_classifier", action="store_false",
                        help="skip the classifier's cross-validation against the baseline (about 10 minutes)")
    parser.add_argument("--without-report", dest="with_report", action="store_false",
                        help="skip a month's report cost at 10,000 vs 200,000 complaints (about 4 minutes)")
    parser.add_argument("--without-sweep", dest="with_sweep", action="store_false",
                        help="skip the SLA sweep's cost at 1,000 vs 100,000 open cases (about a minute)")
    parser.add_argument("--without-loadtest", dest="with_loadtest", action="store_false",
                        help="skip the load test through a local stack of its own (10,000 complaints: an hour or more)")
    parser.add_argument("--loadtest-complaints", type=int, default=10_000, metavar="N",
                        help="complaints in the load test (default 10,000, the issue's figure)")
    parser.add_argument("--faults", nargs="?", const="default", metavar="SPEC",
                        help="also a load test against a stack with faults injected (infra/faults.py; default "
                             "SPEC: 20%% of every service's calls; var/bench/faults.json)")
    parser.add_argument("--faults-complaints", type=int, default=2_000, metavar="N",
                        help="complaints in the fault run (default 2,000)")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"python": sys.version.split()[0], "machine": os.uname().machine,
                               "cpus": os.cpu_count(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    cs = results["cold_start"] = cold_start(args.runs)
    print(f"cold start: import app {cs['import_app_median_seconds'] * 1000:.0f} ms, "
          f"import boto3 {cs['import_boto3_median_seconds'] * 1000:.0f} ms (medians of {cs['runs']}), "
          f"ratio {cs['ratio']:.2f} (target <= {COLD_START_TARGET}) {'OK' if cs['met'] else 'MISSED'}")
    print(f"            import app + intake handler {cs['import_app_and_intake_handler_median_seconds'] * 1000:.0f} ms"
          " (information)")

    calls = results["aws_calls"] = aws_calls(args.complaints)
    print(f"AWS calls:  first complaint {calls['first_complaint_total']}: "
          + ", ".join(f"{op} {c}" for op, c in calls["first_complaint_calls"].items()))
    print(f"            next {args.complaints - 1} complaints: "
          + ", ".join(f"{op} {c}" for op, c in calls["warm_calls_total_by_operation"].items()))
    print(f"            {calls['warm_calls_per_complaint']:.2f} calls per complaint warm "
          f"(target <= {CALLS_TARGET:g}) {'OK' if calls['met'] else 'MISSED'}")

    from infra.pipeline_bench import OUT as PIPELINE_OUT, run as pipeline_figures, summary_lines as pipeline_summary

    pipeline = results["pipeline"] = pipeline_figures()  # cost per 1,000 complaints (docs/scaling.md)
    PIPELINE_OUT.parent.mkdir(parents=True, exist_ok=True)
    PIPELINE_OUT.write_text(json.dumps(pipeline, indent=2, default=str) + "\n", encoding="utf-8")
    for line in pipeline_summary(pipeline):
        print(line)

    from infra.throughput_bench import OUT as THROUGHPUT_OUT, run as throughput_figures, summary_lines as throughput_summary

    throughput = results["throughput"] = throughput_figures()  # in-process vs moto's raw PutItem ceiling
    THROUGHPUT_OUT.write_text(json.dumps(throughput, indent=2) + "\n", encoding="utf-8")
    for line in throughput_summary(throughput):
        print(line)

    from infra.package_bench import OUT as PACKAGE_OUT, run as package_figures, summary_lines as package_summary

    packaged = results["package"] = package_figures(args.runs)  # size and cold start per function
    PACKAGE_OUT.write_text(json.dumps(packaged, indent=2) + "\n", encoding="utf-8")
    for line in package_summary(packaged):
        print(line)

    from infra.mail_bench import corpus_figures

    mail = results["mail_corpus"] = corpus_figures()
    if mail["messages"]:
        shares = ", ".join(f"{o} {share:.1%}" for o, share in mail["outcome_share"].items())
        print(f"email:      {mail['messages']} corpus messages, parse median {mail['median_parse_ms']:.1f} ms, "
              f"p95 {mail['p95_parse_ms']:.1f} ms; {shares}")
    else:
        print(f"email:      {mail['note']}")

    from infra.duplicate_bench import figures as duplicate_figures

    dup = results["duplicates"] = duplicate_figures()
    print(f"duplicates: {json.dumps({k: dup[k] for k in ('threshold', 'precision', 'recall') if k in dup})}")

    from infra.fairness_bench import figures as fairness_figures
    from infra.sweep_bench import run as sweep_costs

    if args.with_sweep:
        sweeps = results["sla_sweep"] = sweep_costs()
        for row in sweeps:
            print(f"SLA sweep:  {row['open_cases']:,} open cases, {row['due']} due: {row['index_items_read']} index "
                  f"items read, {row['cases_read']} cases read, {row['dynamodb_calls']} DynamoDB calls, "
                  f"{row['scans']} Scan")
    fairness = results["assignment_fairness"] = fairness_figures()
    for row in fairness:
        print(f"fairness:   {row['strategy']} ({row['variant']}): assigned max-min {row['assigned_spread']}, "
              f"open load max-min {row['open_spread_end']} (worst {row['open_spread_worst']}), queued {row['queued']}")

    from infra.spike_bench import OUT as SPIKES_OUT, run as spike_figures, summary as spike_summary

    spikes = results["spikes"] = spike_figures()  # simulated series: detection delay, false alarms per 30 days
    SPIKES_OUT.parent.mkdir(parents=True, exist_ok=True)
    SPIKES_OUT.write_text(json.dumps(spikes, indent=2) + "\n", encoding="utf-8")
    for line in spike_summary(spikes):
        print(line)

    from infra.text_cluster_bench import OUT as TEXT_OUT, run as text_cluster_figures, summary as text_summary

    texts = results["text_clusters"] = text_cluster_figures()  # real complaints: false alarms, planted found
    TEXT_OUT.write_text(json.dumps(texts, indent=2) + "\n", encoding="utf-8")
    for line in text_summary(texts):
        print(line)

    if args.with_report:  # a month's report with 10,000 vs 200,000 complaints: about 4 minutes
        from infra.report_bench import run as report_costs, summary_lines as report_summary

        results["report"] = report_costs()  # also written to var/bench/report.json
        for line in report_summary(results["report"]):
            print(line)

    if args.with_loadtest:  # N complaints through `complaints run` on free ports, verified one by one
        from infra.loadtest import bench as loadtest_bench, summary_lines as loadtest_summary

        results["loadtest"] = loadtest_bench(args.loadtest_complaints)  # also written to var/bench/loadtest.json
        for line in loadtest_summary(results["loadtest"]):
            print(line)

    if args.faults:  # the same load test with a share of the app's AWS calls failing: still exactly once
        from infra import faults

        spec = faults.DEFAULT_BENCH_SPEC if args.faults == "default" else args.faults
        results["faults"] = faults.bench(args.faults_complaints, spec)  # also var/bench/faults.json
        for line in faults.summary_lines(results["faults"]):
            print(line)

    if args.with_classifier:  # 5-fold cross-validation of ours vs TF-IDF + linear SVM: about 10 minutes
        from infra.model_bench import figures as classifier_figures

        results["classifier"] = classifier_figures()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")

    from infra import bench_summary

    summary = bench_summary.summarise(extra=results, results=args.out)  # every section's file, this run's or older
    for line in bench_summary.summary_lines(summary):
        print(line)
    bench_summary.write(summary)
    print("summary written to var/bench/summary.json")
    return 0 if cs["met"] and calls["met"] and results.get("loadtest", {}).get("passed", True) \
        and results.get("faults", {}).get("passed", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
