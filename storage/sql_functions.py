"""SQL functions the statements here use that the two databases spell differently, or SQLite lacks."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction


def sha256_hex(text: str) -> str:
    """The hex sha256 of a text's UTF-8 bytes: the audit chain's hash (storage.chain)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class database_sha256_hex(GenericFunction[str]):
    """sha256_hex(text) inside a statement: PostgreSQL's own sha256, or on SQLite sha256_hex above, registered on
    each connection (storage.database)."""

    type = String()
    name = "sha256_hex"
    inherit_cache = True


@compiles(database_sha256_hex, "postgresql")
def _postgresql_sha256_hex(element: database_sha256_hex, compiler: Any, **kw: Any) -> str:
    return f"encode(sha256(convert_to({compiler.process(element.clauses, **kw)}, 'UTF8')), 'hex')"
