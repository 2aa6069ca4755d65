"""``complaints run``: the whole system on 127.0.0.1, with no AWS account.

1. moto's server is the AWS endpoint (``AWS_ENDPOINT_URL``), in a process of its own
   (``infra.moto_process``), so the unchanged app and boto3 talk to it;
2. the resources come from ``infra/resources.yaml`` -- the template that deploys to AWS -- through
   moto's CloudFormation, with its gaps filled in one place (:func:`adapt_template_for_moto`);
3. the stack outputs become the environment the app reads (``shared.config``), plus the development
   JWKS that staff tokens are checked against (``infra.devkeys``);
4. the Chalice app serves HTTP in-process (Chalice's local server, threaded);
5. the event pump runs the app's queue consumers and schedules (``infra.event_pump``).

Everything stops on Ctrl-C or SIGTERM. While the stack is up, ``var/local-stack.json`` says where
everything is (the e2e tests and other tools read it).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


from infra import devkeys
from infra.moto_stack import create_resources, env_name

log = logging.getLogger("infra.local_stack")
STATE_FILE = "local-stack.json"


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    moto_port: int = field(default_factory=lambda: int(os.environ.get("MOTO_PORT") or 4566))
    api_port: int = field(default_factory=lambda: int(os.environ.get("API_PORT") or 8000))
    smtp_port: int = field(default_factory=lambda: int(os.environ.get("SMTP_PORT") or 2525))
    stage: str = field(default_factory=lambda: os.environ.get("STAGE") or "dev")
    var_dir: Path = field(default_factory=devkeys.var_dir)
    demo_staff: bool = True  # seed handlers, leads and a manager (infra/demo_staff.py)
    # fault injection for the app's AWS calls (infra/faults.py), e.g. "all=0.2"; off when empty
    faults: str = field(default_factory=lambda: os.environ.get("COMPLAINTS_FAULTS") or "")

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


# -- the process ----------------------------------------------------------------------------------
def _ensure_free(host: str, port: int, what: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise SystemExit(f"{what} port {port} on {host} is in use; choose another "
                             f"({ {'AWS endpoint': 'MOTO_PORT', 'API': 'API_PORT'}.get(what, 'SMTP_PORT')}=... or a flag)") from None


class LocalStack:
    """Starts the parts in order and stops them in reverse (each start registers its stop)."""

    def __init__(self, options: StackOptions):
        self.options = options
        self.env: dict[str, str] = {}
        self.pump: Any = None
        self.faults: Any = None  # infra.faults.FaultInjector when --faults / COMPLAINTS_FAULTS is set
        self.aws_process: Any = None  # moto's server, when it runs in a process of its own
        self._stops: list[tuple[str, Callable[[], None]]] = []

    def start(self) -> None:
        o = self.options
        _ensure_free(o.host, o.moto_port, "AWS endpoint")
        _ensure_free(o.host, o.api_port, "API")
        _ensure_free(o.host, o.smtp_port, "SMTP")
        self._start_aws()
        self._create_resources()
        from infra import local_outbox  # every email and SMS the app sends also lands in var/outbox/
        self._stops.append(("outbox", local_outbox.install(o.var_dir / "outbox", self.client)))
        self._start_faults()
        self._start_api()
        self._start_pump()
        self._start_smtp()
        self._write_state()

    def _start_aws(self) -> None:
        o = self.options
        os.environ.update({
            "AWS_ENDPOINT_URL": o.aws_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", "STAGE": o.stage,
        })
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = region
        if os.environ.get("COMPLAINTS_MOTO_IN_PROCESS", "").strip().lower() in ("1", "true", "yes"):
            from moto.server import ThreadedMotoServer

            from infra.moto_stack import faster_moto, serialize_dynamodb

            faster_moto()  # moto sorts the whole table per Query and copies it per transaction
            serialize_dynamodb()  # the API, the pump and the SMTP listener write concurrently
            moto = ThreadedMotoServer(ip_address=o.host, port=o.moto_port, verbose=False)
            moto.start()
            self._stops.append(("AWS endpoint", moto.stop))  # werkzeug closes the socket as it stops
            log.info("moto server on %s (in this process)", o.aws_endpoint)
            return
        from infra import moto_process  # a process of its own: the stack uses a second core

        process = self.aws_process = moto_process.start(o.host, o.moto_port)
        self._stops.append(("AWS endpoint", functools.partial(moto_process.stop, process)))
        log.info("moto server on %s (process %d)", o.aws_endpoint, process.pid)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session().client(service, region_name=os.environ["AWS_REGION"])

    def _create_resources(self) -> None:
        o = self.options
        outputs = create_resources(self.client, o.stage, os.environ["AWS_REGION"])
        key = devkeys.ensure_dev_key(o.var_dir / "dev-keys")
        self.env = {env_name(k): v for k, v in outputs.items()}
        # DEV_SIGN_IN: the console's token picker signs with the same development key (never set in AWS)
        self.env.update(JWKS_PATH=str(key.jwks_path), JWT_ISSUER=devkeys.ISSUER, STAGE=o.stage,
                        PUBLIC_BASE_URL=o.api_url, DEV_SIGN_IN="true",
                        # moto's SES answers a fixed sandbox quota (200 a day, 1 a second): the notifier
                        # paces itself to a production-like one instead (functions/notifier/pacing.py)
                        SES_SEND_QUOTA=os.environ.get("SES_SEND_QUOTA", "-1/50"))
        os.environ.update(self.env)
        from shared.aws import reset_clients
        from shared.config import reset_settings

        reset_settings()
        reset_clients()
        log.info("stack complaints-%s created: %s", o.stage, ", ".join(f"{k}={v}" for k, v in outputs.items()))
        log.info("webhook signing secret for local receivers: %s (secret_name in the notifications config)",
                 create_dev_webhook_secret(self.client, o.stage))
        if o.demo_staff:
            from infra import demo_staff

            if demo_staff.seed():
                log.info("demo staff seeded: handlers on duty in every department, leads and a manager "
                         "(infra/demo_staff.py)")

    def _start_faults(self) -> None:
        """The app's clients (boto3's default session) fail as asked; the stack's own clients never do."""
        if not self.options.faults.strip():
            return
        from infra import faults

        self.faults = faults.install(self.options.faults)
        log.warning("fault injection on: %s", self.faults.plan.describe())

        def stop() -> None:
            log.warning("%s", self.faults.summary())
            path = self.options.var_dir / "faults.json"  # the figures, for the fault bench / the curious
            path.write_text(json.dumps(self.faults.counts(), indent=2) + "\n", encoding="utf-8")
            faults.uninstall(self.faults)

        self._stops.append(("fault injection", stop))

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, create_local_server

        from functions.app import app

        class RequestHandler(ChaliceRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
                # query values left out: a staff search (?q=) may carry a customer's email or phone
                args = tuple(_without_query_values(a) if isinstance(a, str) else a for a in args)
                logging.getLogger("infra.api").info(format, *args)

        o = self.options
        config = Config.create(chalice_stage=o.stage, app_name=app.app_name, lambda_timeout=30,
                               lambda_memory_size=512)
        # create_local_server makes app.current_request per-thread (the server is threaded) but takes no
        # handler class, so the request logger is swapped in afterwards.
        server = create_local_server(app, config, o.host, o.api_port)
        server.server.RequestHandlerClass = functools.partial(RequestHandler, app_object=app, config=config)
        thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="api", daemon=True)
        thread.start()

        def stop() -> None:
            server.server.shutdown()
            server.server.server_close()
            thread.join(5)

        self._stops.append(("API", stop))
        self.app = app

    def _start_smtp(self) -> None:
        from infra.smtp_listener import SmtpListener

        o = self.options
        listener = SmtpListener(self.client("s3"), self.env["INBOUND_MAIL_BUCKET"], o.host, o.smtp_port)
        listener.start()
        self._stops.append(("SMTP listener", listener.stop))

    def _start_pump(self) -> None:
        from infra.event_pump import EventPump

        around = None
        if self.faults is not None:  # rules scoped to a function ("route_complaint:dynamodb=1") need its name
            from infra.faults import running as around
        self.pump = EventPump(self.app, self.client("sqs"), stage=self.options.stage,
                              region=os.environ["AWS_REGION"], around_invoke=around)
        self.pump.start()
        self._stops.append(("event pump", self.pump.stop))

    def _write_state(self) -> None:
        o = self.options
        state = {"pid": os.getpid(), "api_url": o.api_url, "aws_endpoint": o.aws_endpoint,
                 "smtp": f"{o.host}:{o.smtp_port}", "region": os.environ["AWS_REGION"], "env": self.env}
        path = o.var_dir / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")  # renamed into place: readers never see half a file
        partial.write_text(json.dumps(state, indent=2), encoding="utf-8")
        partial.replace(path)
        self._stops.append(("state file", lambda: path.unlink(missing_ok=True)))

    def stop(self) -> None:
        while self._stops:
            name, stop = self._stops.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping the %s failed", name)

    def banner(self) -> str:
        o, e = self.options, self.env
        pump = self.pump
        sources = [f"{s.name} ({s.queue or s.queue_arn})" for s in pump.sqs_sources()] + [
            f"{s.name} ({s.schedule_expression})" for s in pump.schedules()]
        return "\n".join([
            f"Complaints local stack is up (stage {o.stage})",
            f"  Complaint form  {o.api_url}/",
            f"  Email intake    smtp://{o.host}:{o.smtp_port}   (any recipient; e.g. python -m smtplib, swaks)",
            f"  Tracking page   {o.api_url}/track",
            f"  Staff console   {o.api_url}/console   (dev sign-in: pick a demo staff member)",
            f"  API base        {o.api_url}   (staff API under /staff, Authorization: Bearer <token>)",
            f"  AWS endpoint    {o.aws_endpoint}   (moto; key testing/testing, region {os.environ['AWS_REGION']})",
            f"  Resources       table {e.get('TABLE_NAME')}, bucket {e.get('ATTACHMENTS_BUCKET')}, "
            f"bus {e.get('EVENT_BUS_NAME')}",
            f"  Event pump      {', '.join(sources) or 'nothing to pump'}"
            + (f"   (duplicate delivery: {pump.duplicate_delivery})" if pump.duplicate_delivery else ""),
            *([f"  FAULTS          {self.faults.plan.describe()}   (infra/faults.py)"] if self.faults else []),
            '  Staff token     complaints token --role agent --department quality --name "Li Wei"'
            + ("   (demo staff on duty: infra/demo_staff.py)" if o.demo_staff else ""),
            "Press Ctrl-C to stop.",
        ])


def create_dev_webhook_secret(client: Callable[[str], Any], stage: str) -> str:
    """A signing secret in moto's Secrets Manager that local webhooks can name (``secret_name``):
    ``complaints/<stage>/webhooks/dev``, a random value made at each start (read it with
    ``aws --endpoint-url http://127.0.0.1:4566 secretsmanager get-secret-value --secret-id ...``)."""
    import secrets

    name = f"complaints/{stage}/webhooks/dev"
    client("secretsmanager").create_secret(Name=name, SecretString=secrets.token_urlsafe(32),
                                           Description="signs the local stack's outbound webhooks")
    return name


def _without_query_values(text: str) -> str:
    """A request line with its query's values replaced (``GET /staff/complaints?q=… HTTP/1.1``)."""
    import re

    return re.sub(r"\?\S*", lambda m: re.sub(r"=[^&\s]*", "=…", m.group(0)), text)


class _Once(logging.Filter):
    """Drops repeats (moto warns about each skipped resource every time it reads the stack)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        first = message not in self._seen
        self._seen.add(message)
        return first


def _quiet_libraries() -> None:
    """Keep the stack's own output readable: one line per API request and per pumped event."""
    import warnings

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, datefmt="%H:%M:%S",
                        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s")
    # mail.log: aiosmtpd logs each SMTP command at INFO, the senders' addresses with them
    for name in ("werkzeug", "botocore", "boto3", "urllib3", "mail.log"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("moto").addFilter(_Once())
    warnings.filterwarnings("ignore", message=r"Tried to parse .* not supported", category=UserWarning)


def run(options: StackOptions) -> int:
    """Start everything, print the banner, wait for Ctrl-C / SIGTERM, stop everything; exit code 0."""
    _quiet_libraries()
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C kills at once

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack = LocalStack(options)
    exit_code = 0
    try:
        stack.start()
        if not stopping.is_set():
            print(stack.banner(), flush=True)
        while not stopping.is_set():  # sleep, not Event.wait: a signal handler must not meet a held lock
            time.sleep(0.2)
            if stack.aws_process is not None and stack.aws_process.poll() is not None:
                code = stack.aws_process.returncode  # -9: killed, most likely by the kernel for memory
                log.error("moto's server (the AWS endpoint) exited with %s%s: the stack cannot go on; stopping",
                          code, " (SIGKILL: out of memory?)" if code == -signal.SIGKILL else "")
                exit_code = 1
                break
    finally:
        log.info("stopping")
        stack.stop()
    log.info("stopped")
    # Everything the stack started is stopped. A handler the pump was running may still sit in a
    # thread of a library it called (seen: the process not exiting after an orderly stop once the
    # report jobs ran); name such threads: `complaints run` leaves without waiting for them.
    left = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()
            and not t.daemon]
    if left:
        log.warning("threads still running after the stop, not waited for: %s", ", ".join(left))
    return exit_code
