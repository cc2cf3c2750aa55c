"""`deferrable` defaults from `[operators] default_deferrable`, read when the module is imported."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = (
    "from airflow_provider_hubassoc.sensors.batch_status import HubSpotBatchStatusSensor\n"
    "print(HubSpotBatchStatusSensor(task_id='s', archive_task_id='a').deferrable)\n"
)


@pytest.mark.parametrize(("setting", "expected"), [("true", "True"), ("false", "False")])
def test_deferrable_follows_the_airflow_setting(setting: str, expected: str) -> None:
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": setting}
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip().splitlines()[-1] == expected
