"""SQLite connect arguments for the deployment's components (`[database] sql_alchemy_connect_args`).

Four components and the task processes share one SQLite file; under load a writer can wait longer
than sqlite3's default 5 s and the scheduler then dies on `database is locked`. Wait up to 60 s.
"""

CONNECT_ARGS = {"timeout": 60}
