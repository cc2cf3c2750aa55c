"""`python -m hubassoc_simulator`: run the simulator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from hubassoc_simulator.config import FaultPlan, SimulatorConfig, apply_changes
from hubassoc_simulator.facts import (
    DEFAULT_ARCHIVE_REPLIES,
    DEFAULT_CREATE_REPLIES,
    DEFAULT_READ_REPLIES,
)
from hubassoc_simulator.server import Simulator
from hubassoc_simulator.state import SimulatorState

DEMO_GENERATE = (50, 100, 1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hubassoc_simulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--host", default="127.0.0.1", help="loopback only")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--seed", type=Path, help="seed file (JSON or CSV)")
    source.add_argument(
        "--generate",
        nargs=3,
        type=int,
        metavar=("RECORDS", "ASSOCIATIONS", "SEED"),
        help=f"generated state (default: {' '.join(map(str, DEMO_GENERATE))})",
    )
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per rolling window")
    parser.add_argument("--rate-interval-ms", type=int, default=10_000)
    parser.add_argument("--daily-limit", type=int, default=None)
    parser.add_argument("--no-retry-after", action="store_true", help="send 429s without Retry-After")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--max-inputs", type=int, default=100)
    parser.add_argument(
        "--reply-mode",
        choices=("200", "204", "207", "alternate"),
        help="one archive reply for every version (default: each version's, see --archive-reply)",
    )
    for kind, default in (
        ("archive", DEFAULT_ARCHIVE_REPLIES),
        ("read", DEFAULT_READ_REPLIES),
        ("create", DEFAULT_CREATE_REPLIES),
    ):
        parser.add_argument(
            f"--{kind}-reply",
            action="append",
            default=[],
            metavar="VERSION=REPLY",
            help=f"{kind} reply of one version (repeatable; defaults "
            + ", ".join(f"{v}={r}" for v, r in default.items())
            + ")",
        )
    parser.add_argument("--error-rate", type=float, default=0.0, help="probability of a 5xx")
    parser.add_argument(
        "--visibility-delay", type=float, default=0.0, help="seconds archived pairs stay readable"
    )
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault RNG")
    parser.add_argument("--ready-file", type=Path, help="write the URL here once listening")
    return parser


def _per_version(items: list[str]) -> dict[str, str]:
    """`["v4=200"]` -> `{"v4": "200"}`; versions not named keep their defaults (via `apply_changes`)."""
    pairs = [item.partition("=") for item in items]
    bad = [item for item, (_, sep, _) in zip(items, pairs, strict=True) if not sep]
    if bad:
        raise ValueError(f"expected VERSION=REPLY, got {bad}")
    return {version: reply for version, _, reply in pairs}


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    faults = FaultPlan(
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        error_rate=args.error_rate,
        visibility_delay_s=args.visibility_delay,
    )
    config = SimulatorConfig(
        port=args.port,
        host=args.host,
        max_inputs=args.max_inputs,
        reply_mode=args.reply_mode,
        rate_limit=args.rate_limit,
        rate_interval_ms=args.rate_interval_ms,
        daily_limit=args.daily_limit,
        retry_after=not args.no_retry_after,
        faults=faults,
        seed=args.fault_seed,
    )
    replies = {
        "archive_replies": _per_version(args.archive_reply),
        "read_replies": _per_version(args.read_reply),
        "create_replies": _per_version(args.create_reply),
    }
    return apply_changes(config, replies)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)  # SimulatorConfig refuses a non-loopback host
    except ValueError as exc:
        parser.error(str(exc))
    if args.seed is not None:
        state = SimulatorState.from_file(args.seed)
    else:
        state = SimulatorState.generate(*(args.generate or DEMO_GENERATE))
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim = Simulator(config, state).start()
    try:
        print(f"HubSpot simulator listening on {sim.url}", flush=True)
        if args.ready_file is not None:
            tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
            tmp.write_text(sim.url, encoding="utf-8")
            tmp.replace(args.ready_file)
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
    print("HubSpot simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
