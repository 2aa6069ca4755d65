"""The local stack as a test fixture: ``complaints run`` in a subprocess on free ports.

``local_stack`` (session-scoped) yields a :class:`LocalStackProcess` with ``api_url``,
``aws_endpoint``, ``env`` (resource names: TABLE_NAME, ATTACHMENTS_BUCKET, ROUTER_QUEUE_URL ...),
``token(role=..., departments=[...])`` and ``client(service)``. On teardown it presses Ctrl-C and
checks that the process exits cleanly within 15 s and leaves its ports closed.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60
STOP_TIMEOUT = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def complaints_command() -> list[str]:
    script = Path(sys.executable).with_name("complaints")
    return [str(script), "run"] if script.exists() else [sys.executable, "-m", "infra.cli", "run"]


@dataclass
class LocalStackProcess:
    process: subprocess.Popen
    var_dir: Path
    log_path: Path
    moto_port: int
    api_port: int
    smtp_port: int = 0
    api_url: str = ""
    aws_endpoint: str = ""
    region: str = "us-east-1"
    env: dict[str, str] = field(default_factory=dict)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def token(self, role: str = "agent", departments: Sequence[str] = ("quality",), name: str = "E2E Tester",
              ttl_minutes: int = 60) -> str:
        """A staff bearer token signed with this stack's development key."""
        from infra import devkeys

        key = devkeys.ensure_dev_key(self.var_dir / "dev-keys")
        return devkeys.issue_token(role=role, departments=list(departments), name=name,
                                   ttl_minutes=ttl_minutes, key=key)

    def client(self, service: str) -> Any:
        """A boto3 client for the stack's moto endpoint (path-style S3)."""
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.aws_endpoint, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(s3={"addressing_style": "path"}))

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        state_file = self.var_dir / "local-stack.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"complaints run exited with {self.process.returncode}:\n{self.output()}")
            if state_file.exists():
                state = json.loads(state_file.read_text(encoding="utf-8"))
                try:
                    requests.get(state["api_url"] + "/", timeout=2)
                except requests.ConnectionError:
                    pass
                else:
                    self.api_url, self.aws_endpoint = state["api_url"], state["aws_endpoint"]
                    self.region, self.env = state["region"], state["env"]
                    return
            time.sleep(0.2)
        self.kill()
        pytest.fail(f"complaints run was not ready within {timeout:.0f} s:\n{self.output()}")

    def interrupt(self, timeout: float = STOP_TIMEOUT) -> tuple[int | None, float]:
        """Press Ctrl-C; return (exit code or None if still running after the timeout, seconds taken)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - started
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def ports_closed(self) -> bool:
        return all(port_is_closed(p) for p in (self.api_port, self.moto_port, self.smtp_port) if p)

    def stop_and_check(self) -> None:
        """Ctrl-C, then check: exit code 0 within the timeout, no child process left, ports closed."""
        children = child_pids(self.process.pid)
        code, _ = self.interrupt()
        if code is None:
            self.kill()
            pytest.fail(f"complaints run still running {STOP_TIMEOUT} s after Ctrl-C:\n{self.output()}")
        assert code == 0, f"complaints run exited with {code} after Ctrl-C:\n{self.output()}"
        assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "a child process survived"
        assert self.ports_closed(), "a port is still open after Ctrl-C"


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc; empty elsewhere). The stack should have none."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def start_local_stack(var_dir: Path, **extra_env: str) -> LocalStackProcess:
    """Start ``complaints run`` on free ports with its files under ``var_dir``; wait until it answers."""
    var_dir.mkdir(parents=True, exist_ok=True)
    moto_port, api_port, smtp_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(MOTO_PORT=str(moto_port), API_PORT=str(api_port), SMTP_PORT=str(smtp_port),
               COMPLAINTS_VAR_DIR=str(var_dir),
               PYTHONUNBUFFERED="1", **extra_env)
    log_path = var_dir / "local-stack.log"
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would stall the stack
        process = subprocess.Popen(complaints_command(), cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    stack = LocalStackProcess(process=process, var_dir=var_dir, log_path=log_path,
                              moto_port=moto_port, api_port=api_port, smtp_port=smtp_port)
    stack.wait_until_ready()
    return stack


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory):
    # SCHEDULE_SPEEDUP: rate(1 minute) schedules fire every second, so the tests see them run.
    stack = start_local_stack(tmp_path_factory.mktemp("local-stack"), SCHEDULE_SPEEDUP="60")
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.stop_and_check()


@pytest.fixture
def local_stack_factory(tmp_path: Path):
    """Start extra stacks of one's own (each killed at teardown if a test left it running)."""
    started: list[LocalStackProcess] = []

    def start(**extra_env: str) -> LocalStackProcess:
        started.append(start_local_stack(tmp_path / f"stack-{len(started)}", **extra_env))
        return started[-1]

    yield start
    for stack in started:
        stack.kill()
