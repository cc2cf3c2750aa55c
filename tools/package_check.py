"""`make package-check`: the release artifacts as a user gets them.

1. `python -m build` makes the sdist and, from it, the wheel (isolated, as a publisher builds);
   the simulator's wheel is built beside them.
2. `twine check --strict` passes on both provider artifacts.
3. A fresh venv gets the provider's wheel alone (no checkout on the path) and the simulator's
   wheel, with the Airflow 3.3 lock as constraints.
4. In that venv, from a folder outside the checkout, tools/package_check_dag.py checks the provider
   registers (`airflow providers list`) and runs the nightly clean-up example with
   `airflow dags test` against the simulator.

Run by the project venv's Python; every step is timed. The work folder is removed on success and
kept (its path printed) on failure.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints" / "airflow-3.3.txt"
EXAMPLE = ROOT / "dags_examples" / "hubspot_association_cleanup.py"
PIP = ["--quiet", "--disable-pip-version-check"]


def step(name: str, command: list[str], cwd: Path = ROOT) -> None:
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    took = time.monotonic() - started
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"package-check: {name} failed ({took:.0f} s): {' '.join(command)}")
    print(f"package-check: {name} ({took:.0f} s)", flush=True)


def only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="hubassoc-package-check-"))
    dist, venv, run = work / "dist", work / "venv", work / "run"
    started = time.monotonic()
    try:
        step("build sdist and wheel", [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)])
        wheel, sdist = (
            only(dist, "airflow_provider_hubassoc-*.whl"),
            only(dist, "airflow_provider_hubassoc-*.tar.gz"),
        )
        step(
            "twine check --strict",
            [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        )
        sim_dist = work / "sim-dist"
        step(
            "build the simulator's wheel",
            [sys.executable, "-m", "build", "--wheel", "--outdir", str(sim_dist), str(ROOT / "simulator")],
        )
        step("fresh venv", [sys.executable, "-m", "venv", str(venv)])
        python = str(venv / "bin" / "python")
        install = [
            python,
            "-m",
            "pip",
            "install",
            *PIP,
            "-c",
            str(LOCK),
            str(wheel),
            str(only(sim_dist, "*.whl")),
        ]
        step("install the wheel alone with the Airflow 3.3 lock", install, cwd=work)
        run.mkdir()
        (run / "dags").mkdir()
        shutil.copy(EXAMPLE, run / "dags" / EXAMPLE.name)
        shutil.copytree(EXAMPLE.parent / "data", run / "dags" / "data")
        check = [python, "-I", str(ROOT / "tools" / "package_check_dag.py"), str(run), str(wheel)]
        step("registered, and the example DAG runs against the simulator", check, cwd=run)
    except BaseException:
        print(f"package-check: work folder kept: {work}")
        raise
    shutil.rmtree(work, ignore_errors=True)
    print(f"package-check: passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
