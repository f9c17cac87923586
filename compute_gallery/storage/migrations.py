"""The PostgreSQL schema as a versioned list of steps, applied once each, under a lock.

``schema_migrations`` records every step applied. ``migrate`` takes a transaction-scoped
advisory lock first, so that of several instances starting together one applies the missing
steps and the others wait, then find nothing left to do. All steps of one run commit together
or not at all. A database that a newer release migrated further is refused, never changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from .. import __version__
from . import SchemaTooNew

log = logging.getLogger(__name__)

# Any fixed 64-bit number names the lock; this one spells "cgschema" in ASCII.
LOCK_KEY = 0x6367736368656D61


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


# Append only: a step, once released, never changes. Keys and parent keys compare byte by
# byte (COLLATE "C"), as in SQLite, so that ordering, paging and the descendant range used
# by delete_tree do not depend on the database's locale. Bodies are ``json``, which keeps
# the text as written, member order included (``jsonb`` would reorder it). Half-full pages
# (fillfactor 50) leave room to update a row in place (a HOT update, which adds no index
# entry): at SERIALIZABLE, index entries added to a page that concurrent writes read make
# them conflict, so replacing two different versions at once would often abort one.
MIGRATIONS = (
    Migration(
        1,
        "resources and operations",
        """
        CREATE TABLE resources (
            key text COLLATE "C" PRIMARY KEY,
            id text NOT NULL,
            type text COLLATE "C" NOT NULL,
            parent_key text COLLATE "C" NOT NULL,
            subscription text COLLATE "C" NOT NULL,
            operation_id text,
            body json NOT NULL
        ) WITH (fillfactor = 50);
        CREATE INDEX resources_by_parent ON resources (parent_key, type, key);
        CREATE INDEX resources_by_subscription ON resources (subscription, type, key);
        CREATE TABLE operations (
            id text PRIMARY KEY,
            status text NOT NULL,
            due double precision NOT NULL,
            ended double precision,
            body json NOT NULL
        ) WITH (fillfactor = 50);
        CREATE INDEX operations_unfinished ON operations (due) WHERE status = 'InProgress';
        CREATE INDEX operations_ended ON operations (ended) WHERE ended IS NOT NULL;
        """,
    ),
)
LATEST = MIGRATIONS[-1].version


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> list[Migration]:
    """Bring the database up to ``LATEST``; return the steps applied (none if it was)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version integer PRIMARY KEY, name text NOT NULL, release text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        current = row[0] if row and row[0] is not None else 0
        assert isinstance(current, int)
        if current > LATEST:
            raise SchemaTooNew(
                f"the database is at schema version {current}, written by a newer "
                f"compute-gallery; this release ({__version__}) knows versions up to {LATEST}. "
                "Run the newer release, or point this one at another database."
            )
        applied = [step for step in MIGRATIONS if step.version > current]
        for step in applied:
            log.info("applying database migration %d (%s)", step.version, step.name)
            conn.execute(step.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, release) VALUES (%s, %s, %s)",
                (step.version, step.name, __version__),
            )
    return applied
