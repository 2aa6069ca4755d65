"""moto's server in a process of its own, for the local stack (``infra.local_stack``).

In one process the app, the event pump, the HTTP and SMTP front doors and moto share one interpreter
lock: the stack used one core however many the machine had. Here moto answers from a second
process, with the same speed-ups and the same atomic DynamoDB writes as before
(:func:`infra.moto_stack.faster_moto`, :func:`infra.moto_stack.serialize_dynamodb`).

    python -m infra.moto_process --host 127.0.0.1 --port 4566

Runs until SIGTERM or SIGINT. ``COMPLAINTS_MOTO_IN_PROCESS=1`` keeps moto in the stack's process.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any


def serve(host: str, port: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    from infra.moto_stack import faster_moto, serialize_dynamodb

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request: ~5% of moto's time
    faster_moto()  # moto sorts the whole table per Query and copies it per transaction
    serialize_dynamodb()  # the API, the pump and the SMTP listener write concurrently
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    parent = os.getppid()

    def orphaned() -> None:  # the stack died without stopping us (SIGKILL): the port is freed all the same
        while not stopped.wait(1):
            if os.getppid() != parent:
                stopped.set()

    signal.signal(signal.SIGUSR1, lambda *_: _dump_objects())  # what fills moto's memory, for the curious
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    threading.Thread(target=orphaned, name="watch-parent", daemon=True).start()
    print(f"moto listening on {host}:{port}", flush=True)
    stopped.wait()
    server.stop()


def _dump_objects() -> None:
    """``kill -USR1 <pid>``: the 25 most numerous object types, in the stack's log (``infra.moto_process``)."""
    import gc
    from collections import Counter

    counts = Counter(type(o).__name__ for o in gc.get_objects())
    print("objects by type: " + ", ".join(f"{name} {n}" for name, n in counts.most_common(25)), flush=True)


def start(host: str, port: int, *, timeout: float = 60) -> subprocess.Popen[Any]:
    """Start the server process and return once it accepts connections (or raise, with its output)."""
    process = subprocess.Popen([sys.executable, "-m", "infra.moto_process", "--host", host, "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)  # a terminal's Ctrl-C reaches the stack, which stops it last
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited ({process.returncode}): {(process.stdout.read() or '')[-2000:]}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        stop(process)
        raise RuntimeError(f"moto's server did not listen on {host}:{port} within {timeout:.0f} s")
    # its output from now on is werkzeug's and moto's warnings: drained so the pipe never fills
    threading.Thread(target=_drain, args=(process,), name="moto-output", daemon=True).start()
    return process


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drain(process: subprocess.Popen[Any]) -> None:
    import logging

    log, moto_log = logging.getLogger(__name__), logging.getLogger("moto.server")
    for line in process.stdout or ():
        (log.info if line.startswith("objects by type") else moto_log.debug)("%s", line.rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.moto_process", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
