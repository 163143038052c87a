"""Column types shared by the tables."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")
