"""The command line every runner takes, so the harness starts each one the same way."""

from __future__ import annotations

import argparse
from pathlib import Path


def parse(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a runner's options (the harness passes all of them; each runner uses what it needs)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="simulator base URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("--pairs", type=Path, required=True, help="CSV with from_id,to_id")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--rate-limit", type=int, default=190)
    parser.add_argument("--workdir", type=Path, required=True)
    return parser.parse_args(argv)
