"""Helpers shared by the test modules, one module per thing they support; import from the module:
`from tests.support.sim_states import grid_state`. This package re-exports nothing, so a test
loads only what it uses (and the tests of the client and the engine load no Airflow).

- sim_client: a plain HTTP client for the simulator's API
- sim_states: the states a simulator starts from, and reading state and counters back
- connections: AIRFLOW_CONN_* JSON pointing at a simulator, with distinctive secrets
- client_doubles: fixed URLs, a fake clock, reply bodies and Pair builders for the HTTP client
- readback: a fake association reader, a fake async clock and an event-loop lag probe
- reports: writing and reading JSONL run reports
- inputs: the operators' input edge alone (inputs -> pairs in a pair store)
- operator_runs: operators with test defaults and `run_operator` (a task's execute, captured)
- assertions: LeakScan (no secret anywhere) and the report-matches-the-simulator check
- airflow_versions: skips by Airflow version, and the DagBag and XCom rows across versions
- servers: real Redis, a never-ending reply server, free loopback ports
- postgres: a real PostgreSQL server (pgserver's binaries)
- collection: the deployment suites run only when their marker is selected
"""
