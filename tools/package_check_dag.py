"""Run by `make package-check` with the fresh venv's Python, isolated (`-I`: no checkout, no
PYTHONPATH, no user site on the path): the installed wheel registers as an Airflow provider and the
nightly clean-up example runs through `airflow dags test` against the simulator's distribution.

Arguments: the run folder (holds dags/ with the example and its data) and the wheel installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DAG_ID = "hubspot_association_cleanup"
DEMO_REMOVED = 24  # the example's input: 25 pairs, one naming a contact the seed does not have


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)


def fail(message: str, result: subprocess.CompletedProcess[str] | None = None) -> None:
    detail = "" if result is None else "\n" + (result.stdout + result.stderr)[-4000:]
    raise SystemExit(f"{message}{detail}")


def main(run: Path, wheel: Path) -> None:
    import airflow_provider_hubassoc
    from hubassoc_simulator import DEFAULT_TOKEN
    from hubassoc_simulator.process import SimulatorProcess

    installed = Path(airflow_provider_hubassoc.__file__).resolve()
    if Path(sys.prefix).resolve() not in installed.parents:
        fail(f"the provider was imported from {installed}, not from the venv {sys.prefix}")
    version = wheel.name.split("-")[1]
    if airflow_provider_hubassoc.__version__ != version:
        fail(f"installed version {airflow_provider_hubassoc.__version__}, wheel {version}")

    home = run / "airflow_home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(run / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "HUBSPOT_CLEANUP_REPORT_DIR": str(run / "reports"),
    }
    listed = airflow(env, "providers", "list", "--output", "json")
    providers = {p["package_name"]: p["version"] for p in json.loads(listed.stdout or "[]")}
    if providers.get("airflow-provider-hubassoc") != version:
        fail(f"airflow providers list does not show airflow-provider-hubassoc {version}", listed)
    print(f"airflow providers list: airflow-provider-hubassoc {version}")

    seed = run / "dags" / "data" / "demo_seed.json"
    with SimulatorProcess(["--seed", str(seed)], log_path=run / "simulator.log") as simulator:
        env["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = json.dumps(
            {"conn_type": "hubspot", "host": simulator.url, "password": DEFAULT_TOKEN}
        )
        before = len(simulator.admin("state")["associations"])
        migrated = airflow(env, "db", "migrate")
        if migrated.returncode != 0:
            fail("airflow db migrate failed", migrated)
        tested = airflow(env, "dags", "test", DAG_ID)
        if tested.returncode != 0:
            fail(f"airflow dags test {DAG_ID} failed", tested)
        removed = before - len(simulator.admin("state")["associations"])
    if removed != DEMO_REMOVED:
        fail(f"airflow dags test {DAG_ID} removed {removed} associations, expected {DEMO_REMOVED}", tested)
    print(f"airflow dags test {DAG_ID}: success, {removed} associations removed from the simulator")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
