"""Names the DAG file of `make e2e-celery` and its test share (no imports: the DAG file parses cheaply)."""

FANOUT_DAG = "hubassoc_celery_fanout"
TWO_DAGS = ("hubassoc_celery_cleanup_one", "hubassoc_celery_cleanup_two")
SENSOR_DAG = "hubassoc_celery_archive_then_sensor"
DAG_IDS = (FANOUT_DAG, *TWO_DAGS, SENSOR_DAG)

FANOUT_CONN_ID = "hubspot_celery_fanout"
TWO_DAGS_CONN_IDS = ("hubspot_celery_dag_one", "hubspot_celery_dag_two")
SENSOR_CONN_ID = "hubspot_celery_sensor"
POOL = "hubspot_celery_api"
POOL_SLOTS = 4
BATCH_SIZE = 50
SENSOR_TASKS = ("confirm_poke", "confirm_deferred")
