"""The run's settings: the few values the engine needs, checked once, never the operator itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_hubassoc.batch.report import RunIdentity
    from airflow_provider_hubassoc.client.api import HubSpotClient
    from airflow_provider_hubassoc.models.summary import OnError

ON_ERROR_CHOICES = ("fail", "threshold", "ignore")


def check_positive_int(name: str, value: Any, *, optional: bool = False) -> None:
    """Refuse anything but a positive int (bool included), naming the argument."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if optional else ''}, got {value!r}")


def check_error_policy(on_error: Any, max_error_ratio: Any) -> None:
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error {on_error!r} is not one of {', '.join(ON_ERROR_CHOICES)}")
    if on_error == "threshold" and (max_error_ratio is None or not 0.0 <= max_error_ratio <= 1.0):
        raise ValueError("on_error='threshold' needs max_error_ratio between 0 and 1")


@dataclass(frozen=True)
class RunSettings:
    """How one run sends, records and judges. Checked at construction (`ValueError` naming the
    argument), so an operator builds it in `__init__` and a bad DAG fails at parse time."""

    batch_size: int = 100
    max_concurrency: int = 4
    on_error: OnError = "fail"
    max_error_ratio: float | None = None
    dry_run: bool = False
    report_path: str | None = None
    progress_interval: float = 10.0
    read_back: bool = False
    read_back_timeout: float = 60.0
    resume: bool = False
    max_consecutive_failed_chunks: int | None = 5
    snapshot: bool = False
    fail_on_empty: bool = False
    hubspot_conn_id: str = "hubspot_default"
    identity: RunIdentity | None = None

    def __post_init__(self) -> None:
        check_error_policy(self.on_error, self.max_error_ratio)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("max_concurrency", self.max_concurrency)
        check_positive_int("max_consecutive_failed_chunks", self.max_consecutive_failed_chunks, optional=True)
        if self.snapshot and not self.report_path:
            raise ValueError("snapshot=True needs report_path: the snapshot is written to the report")


@dataclass(frozen=True)
class Target:
    """Where the run writes: the client and the two object types (checked already)."""

    client: HubSpotClient
    from_type: str
    to_type: str

    @property
    def api_version(self) -> str:
        version = self.client.api_version
        return str(getattr(version, "value", version))
