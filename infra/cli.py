"""The ``complaints`` command: the local stack and developer tools.

Each subcommand imports what it needs only when it runs, so ``complaints --help`` and
``complaints token`` stay quick. Later subcommands (model, report, loadtest) plug in the same way:
a ``_add_<name>`` function declaring the arguments and a ``_<name>`` function doing the work.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

ROLES = ("agent", "lead", "manager", "admin", "auditor")


def _run(args: argparse.Namespace) -> int:
    from infra.local_stack import StackOptions, run

    options = StackOptions()
    if args.moto_port:
        options.moto_port = args.moto_port
    if args.api_port:
        options.api_port = args.api_port
    if args.smtp_port:
        options.smtp_port = args.smtp_port
    if args.stage:
        options.stage = args.stage
    options.demo_staff = not args.no_demo_staff
    if args.faults is not None:
        from infra.faults import FaultPlan

        try:
            FaultPlan.parse(args.faults)
        except ValueError as exc:
            print(f"complaints run: --faults: {exc}", file=sys.stderr)
            return 2
        options.faults = args.faults
    code = run(options)
    # the stack is stopped: exit without waiting for a library thread a handler left behind (named in
    # the log by run()), so Ctrl-C always ends `complaints run`
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="start the local stack (AWS endpoint, API, event pump) until Ctrl-C",
                       description="Start moto, the resources from infra/resources.yaml, the HTTP API "
                                   "and the event pump on 127.0.0.1, in one process.")
    p.add_argument("--moto-port", type=int, help="AWS endpoint port (env MOTO_PORT, default 4566)")
    p.add_argument("--api-port", type=int, help="HTTP API port (env API_PORT, default 8000)")
    p.add_argument("--smtp-port", type=int, help="SMTP listener port (env SMTP_PORT, default 2525)")
    p.add_argument("--stage", help="stage name used in resource names (env STAGE, default dev)")
    p.add_argument("--no-demo-staff", action="store_true",
                   help="start with an empty staff directory (default: demo handlers on duty, leads, a manager)")
    p.add_argument("--faults", metavar="SPEC",
                   help='fail a share of the app\'s AWS calls, e.g. "dynamodb=0.2,s3=0.2,sqs=0.2,ses=0.2,events=0.2" '
                        'or "all=0.2,seed=7" (env COMPLAINTS_FAULTS; docs/local-stack.md, "Faults")')
    p.set_defaults(func=_run)


def _token(args: argparse.Namespace) -> int:
    from infra import devkeys

    departments = args.department or []
    print(devkeys.issue_token(role=args.role, departments=departments, name=args.name,
                              ttl_minutes=args.ttl_minutes))
    return 0


def _add_token(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("token", help="print a staff JWT signed with the local stack's development key",
                       description="Print a bearer token for the local staff API (RS256, issuer "
                                   "complaints-local). Use it as 'Authorization: Bearer <token>'.")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--department", action="append", metavar="D",
                   help="a department the person works in (repeatable)")
    p.add_argument("--name", required=True, help='display name, e.g. "Li Wei"')
    p.add_argument("--ttl-minutes", type=int, default=480, help="lifetime (default 480)")
    p.set_defaults(func=_token)


def _mail_parse(args: argparse.Namespace) -> int:
    import os

    from functions.intake.mail.cli import run

    own = args.own_address or [a for a in [os.environ.get("SENDER_ADDRESS")] if a]
    return run(args.files, own_addresses=own)


def _add_mail(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mail", help="email intake tools (offline)",
                       description="Email intake tools that need no AWS account.")
    mail = p.add_subparsers(dest="mail_command", metavar="<mail command>", required=True)
    q = mail.add_parser("parse", help="print one JSON line per message: outcome, reason, sender, text...",
                        description="Parse raw messages (.eml) as the email intake does and print, for each, "
                                    "one JSON line: outcome (new/reply/ignore/quarantine), reason, from, subject, "
                                    "cleaned text, attachments, message_id, language, defects, parse_ms. "
                                    "A folder stands for the files under it; '-' reads standard input. "
                                    "Exits 0 whatever the messages hold.")
    q.add_argument("files", nargs="+", metavar="FILE")
    q.add_argument("--own-address", action="append", metavar="ADDR",
                   help="an address our mail comes from: mail from it is a loop (repeatable; "
                        "default env SENDER_ADDRESS)")
    q.set_defaults(func=_mail_parse)


def _model_export_corrections(args: argparse.Namespace) -> int:
    from datetime import date

    from functions.router import corrections
    from infra import devkeys

    try:
        since = date.fromisoformat(args.since) if args.since else None
    except ValueError:
        print(f"export-corrections: --since must be a date (YYYY-MM-DD), not {args.since!r}", file=sys.stderr)
        return 2
    corrections.use_local_stack_if_running(devkeys.var_dir())
    summary = corrections.export(args.out, since)
    print(f"export-corrections: {summary.rows} row(s) to {args.out} ({summary.corrections} correction(s), "
          f"{summary.changed_labels} changed label(s), {summary.missing_cases} case(s) no longer there)",
          file=sys.stderr)
    return 0


def _add_model_export_corrections(model: argparse._SubParsersAction) -> None:
    p = model.add_parser("export-corrections", help="write handlers' corrections as training data (id,text,label)",
                         description="Read every classification a handler corrected or confirmed (from --since "
                                     "on; the latest per case) and write the case's text with the handler's "
                                     "category as CSV id,text,label. Uses the AWS environment (TABLE_NAME ...) "
                                     "or, when none is set, the running local stack.")
    p.add_argument("--since", metavar="DATE", help="first day (YYYY-MM-DD; default: all)")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="where to write ('-': standard output)")
    p.set_defaults(func=_model_export_corrections)


def _add_model_tools(model: argparse._SubParsersAction) -> None:
    from infra.model_cli import add_commands  # argparse only: train/eval/predict import lazily

    add_commands(model)


# `complaints model <command>`: each entry adds one command to the model subparsers.
MODEL_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_model_tools,
                                                                          _add_model_export_corrections]


def _add_model(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="the router's text classifier: training data and models",
                       description="Tools for the router's text classifier.")
    model = p.add_subparsers(dest="model_command", metavar="<model command>", required=True)
    for add in MODEL_SUBCOMMANDS:
        add(model)


def _notifier_preview(args: argparse.Namespace) -> int:
    from functions.notifier.preview import run

    return run(args.template, args.language, args.part)


def _add_notifier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notifier", help="notification templates (offline)",
                       description="Tools for the notifier's templates; they need no AWS account.")
    notifier = p.add_subparsers(dest="notifier_command", metavar="<notifier command>", required=True)
    q = notifier.add_parser("preview", help="render a template with sample data to standard output",
                            description="Render a notification template (functions/notifier/templates) with "
                                        "realistic sample data: a customer's (staff_replied, resolved, closed ...), "
                                        "a handler's (staff_assigned, staff_approval_needed ...), staff_alert, "
                                        "ack, reply_ack or webhook. An unknown name lists the templates.")
    q.add_argument("template", metavar="TEMPLATE")
    q.add_argument("--language", required=True, choices=("zh", "en"))
    q.add_argument("--part", default="all", choices=("subject", "txt", "html", "sms", "all"),
                   help="one part only (default: every part the template has)")
    q.set_defaults(func=_notifier_preview)


def _stats_rebuild(args: argparse.Namespace) -> int:
    import json
    from datetime import date

    from functions.router.corrections import use_local_stack_if_running
    from infra import devkeys

    try:
        first, last = date.fromisoformat(args.first), date.fromisoformat(args.last)
    except ValueError:
        print("stats rebuild: --from and --to must be dates (YYYY-MM-DD)", file=sys.stderr)
        return 2
    if last < first:
        print(f"stats rebuild: --to {last} is before --from {first}", file=sys.stderr)
        return 2
    if args.lookback_months < 0:
        print("stats rebuild: --lookback-months must be 0 or more", file=sys.stderr)
        return 2
    use_local_stack_if_running(devkeys.var_dir())
    from shared.stats_store import stats_store

    store = stats_store()
    reports = [store.rebuild(first, last, lookback_months=args.lookback_months)]
    if args.open:
        reports.append(store.rebuild_open())
    for report in reports:
        print(json.dumps(report.__dict__))
    return 0


def _stats_rollup(args: argparse.Namespace) -> int:
    import json
    import re
    from datetime import date

    from functions.router.corrections import use_local_stack_if_running
    from infra import devkeys

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.month):
        print("stats rollup: --month must be YYYY-MM", file=sys.stderr)
        return 2
    try:
        through = date.fromisoformat(args.through) if args.through else None
    except ValueError:
        print("stats rollup: --through must be a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    if through is not None and through.strftime("%Y-%m") != args.month:
        print(f"stats rollup: --through {through} is not in {args.month}", file=sys.stderr)
        return 2
    use_local_stack_if_running(devkeys.var_dir())
    from shared.stats_store import stats_store

    print(json.dumps(stats_store().roll_up(args.month, through).__dict__))
    return 0


def _add_stats(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="the report counters (offline maintenance)",
                       description="Maintenance of the report counters (docs/reports.md, \"Counters\").")
    stats = p.add_subparsers(dest="stats_command", metavar="<stats command>", required=True)
    q = stats.add_parser("rebuild", help="recompute the counters of some days from the cases",
                         description="Recompute every counter of the days --from..--to (UTC) by replaying the "
                                     "timelines of the cases received from --lookback-months months before the "
                                     "first day's month to the last day's month (index ByMonth, no Scan), and "
                                     "replace those days' items; running it again changes nothing. With --open, "
                                     "also recompute the open-backlog gauge from the open cases. Run it when no "
                                     "one is working the cases (a live change meanwhile can be lost: run it "
                                     "again). Uses the AWS environment (TABLE_NAME ...) or, when none is set, "
                                     "the running local stack. Prints one JSON line per part rebuilt.")
    q.add_argument("--from", dest="first", required=True, metavar="DAY", help="first day, YYYY-MM-DD")
    q.add_argument("--to", dest="last", required=True, metavar="DAY", help="last day, YYYY-MM-DD (inclusive)")
    q.add_argument("--lookback-months", type=int, default=3, metavar="N",
                   help="also read the cases received N months before --from's month (default 3): a case "
                        "received earlier and changed in the period is not seen")
    q.add_argument("--open", action="store_true", help="also rebuild the open-backlog gauge (STATS#OPEN)")
    q.set_defaults(func=_stats_rebuild)
    q = stats.add_parser("rollup", help="sum a month's days into its roll-up now",
                         description="Sum the counters of --month's days (to --through, default its last day) "
                                     "into the month's roll-up, which month reports read instead of the days. "
                                     "The hourly reports job keeps them (this month through yesterday, last "
                                     "month complete); run it by hand after changing counters another way. "
                                     "Prints one JSON line.")
    q.add_argument("--month", required=True, metavar="YYYY-MM")
    q.add_argument("--through", metavar="DAY", help="the last day to include, YYYY-MM-DD (default: the month's last)")
    q.set_defaults(func=_stats_rollup)


def _report(args: argparse.Namespace) -> int:
    from functions.reports.cli import run
    from functions.router.corrections import use_local_stack_if_running
    from infra import devkeys

    use_local_stack_if_running(devkeys.var_dir())
    return run(args.period, args.format, args.out, department=args.department, language=args.language)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render the complaints report of a period to a file (html, csv, xlsx, cfpb)",
                       description="Render the report the scheduled emails and GET /staff/reports show, from the "
                                   "daily counters: html (one page, charts embedded), csv, xlsx, or cfpb (the "
                                   "period's cases in the US CFPB public database layout). Uses the AWS "
                                   "environment (TABLE_NAME ...) or, when none is set, the running local stack.")
    p.add_argument("--period", help="2026-11, 2026-W47, 2026-11-22 or 2026-11-01..2026-11-30 (default: this month)")
    p.add_argument("--format", required=True, choices=("html", "csv", "xlsx", "cfpb"))
    p.add_argument("--out", required=True, metavar="FILE", help="where to write ('-': standard output)")
    p.add_argument("--department", metavar="D", help="one department's report (default: the company)")
    p.add_argument("--language", default="en", choices=("zh", "en"), help="labels and charts (default en)")
    p.set_defaults(func=_report)


def _loadtest(args: argparse.Namespace) -> int:
    from infra.loadtest import main

    return main(args)


def _add_loadtest(sub: argparse._SubParsersAction) -> None:
    from pathlib import Path

    p = sub.add_parser("loadtest", help="submit N complaints to the running local stack and verify them",
                       description="Submit N complaints through the local stack's HTTP API and SMTP listener "
                                   "(real texts from ../shared/datasets/ when present), wait for the pipeline to "
                                   "drain, then verify from the store that each exists exactly once and is "
                                   "classified, routed and acknowledged exactly once. Prints throughput, latency "
                                   "percentiles per step and queue figures; writes a JSON report; exits 1 on any "
                                   "missing, duplicate or unfinished complaint. Loopback targets only. Defaults "
                                   "come from the running stack (var/local-stack.json).")
    p.add_argument("--complaints", type=int, default=500, metavar="N", help="how many (default 500)")
    p.add_argument("--concurrency", type=int, default=8, metavar="C", help="submissions at a time (default 8)")
    p.add_argument("--mix", default="web,email", help="channels and shares: web,email (default), web, web=3,email=1")
    p.add_argument("--api", metavar="URL", help="the HTTP API (default: the running stack's)")
    p.add_argument("--smtp", metavar="HOST:PORT", help="the SMTP listener (default: the running stack's)")
    p.add_argument("--endpoint", metavar="AWS_URL", help="the AWS endpoint (default: the running stack's)")
    p.add_argument("--drain-timeout", type=float, default=300, metavar="SECONDS",
                   help="how long to wait for the pipeline after the last submission (default 300)")
    p.add_argument("--seed", type=int, default=7, help="which texts are picked (default 7)")
    p.add_argument("--out", type=Path, metavar="FILE.json",
                   help="the JSON report (default var/bench/loadtest.json; var/ is COMPLAINTS_VAR_DIR)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on standard error")
    p.set_defaults(func=_loadtest)


def _redrive(args: argparse.Namespace) -> int:
    from infra.redrive import main

    return main(args)


def _add_redrive(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("redrive", help="move a dead-letter queue's messages back to their queue (local stack)",
                       description="What `aws sqs start-message-move-task` does in AWS (docs/operations.md), for "
                                   "the running local stack, whose moto does not implement it.")
    p.add_argument("--queue", required=True, choices=["email-intake", "router", "assignment", "notifier"],
                   help="the step whose DLQ to re-drive")
    p.add_argument("--limit", type=int, metavar="N", help="at most N messages (default: all)")
    p.add_argument("--endpoint", metavar="AWS_URL", help="the AWS endpoint (default: the running stack's)")
    p.set_defaults(func=_redrive)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_run, _add_token, _add_mail, _add_model,
                                                                    _add_notifier, _add_stats, _add_report,
                                                                    _add_loadtest, _add_redrive]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="complaints", description="Complaint management: local stack and tools. "
                                "Files go to ./var (env COMPLAINTS_VAR_DIR).")
    sub = p.add_subparsers(dest="command", metavar="<command>", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "ttl_minutes", 1) <= 0:
        parser().error("--ttl-minutes must be positive")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
