"""`deferrable` defaults from `[operators] default_deferrable`, read when the module is imported."""

from __future__ import annotations

import json
import subprocess
import sys

# One fresh interpreter (Airflow imported once) imports the sensor module under each setting.
CODE = """
import importlib, json, os
results = {}
for setting in ("true", "false"):
    os.environ["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] = setting
    import airflow_provider_hubassoc.sensors.batch_status as module
    module = importlib.reload(module)
    results[setting] = module.HubSpotBatchStatusSensor(task_id="s", archive_task_id="a").deferrable
print(json.dumps(results))
"""


def test_deferrable_follows_the_airflow_setting() -> None:
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"true": True, "false": False}
