"""`hazard db upgrade|downgrade`, the schema check before serving, and the database connection every
`hazard` command uses (`session_factory`; tests patch this module's `make_engine` to track and
dispose of the engines it makes)."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db.engine import UnitOfWork, make_engine, make_session_factory
from db.migrate import application_role, grant_application_role, same_database, schema_at_head
from db.migrate import upgrade as migrate_upgrade, downgrade as migrate_downgrade
from services.kernel.settings import Settings, get_settings


def session_factory() -> sessionmaker[Session]:
    """Sessions on `HAZARD_DATABASE_URL`, with the small pool one command needs."""
    settings = get_settings()
    return make_session_factory(make_engine(settings.database_url, pool_size=2, max_overflow=2))


def unit_of_work() -> UnitOfWork:
    """Units of work on `HAZARD_DATABASE_URL`, for the commands that run a job in batches."""
    return UnitOfWork(session_factory())


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate as the tables' owner (HAZARD_MIGRATION_DATABASE_URL when set); when the service runs
    as another role, grant it what it needs and no more (README "PostgreSQL in production")."""
    settings = get_settings()
    url = settings.migration_database_url or settings.database_url
    app_role = application_role(settings.database_url, settings.migration_database_url)
    if app_role and not same_database(settings.database_url, url):
        print("错误：HAZARD_MIGRATION_DATABASE_URL 与 HAZARD_DATABASE_URL 须指向同一个数据库（仅用户不同）",
              file=sys.stderr)
        return 2
    make_engine(url).dispose()  # creates the SQLite file's folder
    migrate_upgrade(url, args.revision)
    print(f"数据库已升级到 {args.revision}：{safe_url(url)}")
    if app_role:
        grant_application_role(url, app_role)
        print(f"已授权应用角色 {app_role}：业务表可读写，审计表只能查询和追加")
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = settings.migration_database_url or settings.database_url
    migrate_downgrade(url, args.revision)
    print(f"数据库已回退到 {args.revision}")
    return 0


def prepare_schema(settings: Settings) -> str | None:
    """Bring the schema to head before serving: by migrating when the service's role owns the tables,
    else (PostgreSQL with two roles) only by checking, since the application role must not and
    cannot migrate. Returns the refusal to print, or None."""
    url = settings.database_url
    if application_role(url, settings.migration_database_url) is None:
        make_engine(url).dispose()
        migrate_upgrade(url, "head")
        return None
    if schema_at_head(url):
        return None
    return ("错误：数据库结构不是最新版本。服务以应用角色运行，不能自行迁移："
            "请先以表的所有者运行 hazard db upgrade（HAZARD_MIGRATION_DATABASE_URL 指向所有者），再启动服务")


def add_parsers(sub) -> None:
    db = sub.add_parser("db", help="数据库").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="执行迁移到最新版本")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    down = db.add_parser("downgrade", help="回退迁移")
    down.add_argument("revision", nargs="?", default="base")
    down.set_defaults(func=cmd_db_downgrade)
