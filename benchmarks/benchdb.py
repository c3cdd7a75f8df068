"""The database a benchmark makes for itself: BENCH_DATABASE_URL's name plus a suffix, created fresh, dropped after.

Import it before Django is set up: `point_django_at` sets DATABASE_URL (and an empty REDIS_URL) for the settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

_base = urlparse(os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/drg_bench"))


class BenchDatabase:
    def __init__(self, suffix: str):
        self.name = _base.path.lstrip("/") + suffix

    def point_django_at(self) -> BenchDatabase:
        os.environ["DATABASE_URL"] = urlunparse(_base._replace(path="/" + self.name))
        os.environ["REDIS_URL"] = ""
        return self

    def _server(self):
        import psycopg

        return psycopg.connect(urlunparse(_base._replace(path="/postgres")), autocommit=True)

    def create(self) -> None:
        with self._server() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        from django.db import connections

        connections.close_all()
        with self._server() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
