"""The `hazard` command line (DESIGN 6): the parser and the entry point. The commands live in the
modules of their group: app/cli/database.py (db, and the connection every command uses),
organisations.py (regions, enterprises, users, tokens), imports.py (enterprises import,
import-ledger), records.py (audit, outbox, documents, issuers), calendar.py and run.py (escalate,
serve, demo).

Messages for people are Chinese; a command that creates a user prints the token alone on its last
line, so scripts can take it with `tail -n 1`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.cli import (
    calendar as cli_calendar, database as cli_database, imports as cli_imports,
    organisations as cli_organisations, records as cli_records, run as cli_run,
)
from app.cli import inspections as cli_inspections
from app.cli import reports as cli_reports
from app.cli import accountability as cli_accountability
from app.cli import blacklist as cli_blacklist
from app.cli import orgs as cli_orgs
from app.cli import tasks as cli_tasks
from app.cli import prefect as cli_prefect
from sqlalchemy.exc import OperationalError, ProgrammingError

from services.kernel.errors import DomainError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hazard", description="事故隐患闭环管理服务")
    sub = p.add_subparsers(dest="command", required=True)
    cli_database.add_parsers(sub)  # db upgrade, downgrade
    cli_organisations.add_parsers(sub)  # regions, enterprises, users, tokens
    cli_records.add_parsers(sub)  # audit, outbox, documents, issuers
    cli_calendar.add_parsers(sub)  # calendar status, set-year, unset
    cli_run.add_parsers(sub)  # escalate, serve, demo
    cli_reports.add_parsers(sub)  # reports prepare, status, submit (直报)
    cli_imports.add_parsers(sub)  # import-ledger
    cli_inspections.add_parsers(sub)  # self-inspections sweep, status
    cli_accountability.add_parsers(sub)  # accountability body, sweep; bulletins collect
    cli_blacklist.add_parsers(sub)  # blacklist candidates, remind
    cli_orgs.add_parsers(sub)  # orgs import, list, resolve (government bodies)
    cli_tasks.add_parsers(sub)  # tasks import (任务清单)
    cli_prefect.add_parsers(sub)  # prefect resync, status (the lifecycle mirror)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import os

    from services.kernel import logs

    args = build_parser().parse_args(argv)
    # Structured logs go to stderr, so a command's own output (a token on the last line) stays
    # clean; a command is quiet below WARNING unless HAZARD_LOG_LEVEL asks for more.
    fmt = os.environ.get("HAZARD_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    logs.configure(os.environ.get("HAZARD_LOG_LEVEL", "WARNING"), text=fmt == "text")
    try:
        return args.func(args)
    except DomainError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        if exc.details:
            for d in exc.details if isinstance(exc.details, list) else [exc.details]:
                print(f"  {d.get('field', '')}: {d.get('message', d)}" if isinstance(d, dict) else f"  {d}",
                      file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as exc:
        if not _schema_missing(exc):
            raise
        print("错误：数据库尚未建立或不是最新结构：请先运行 hazard db upgrade（或 hazard demo 载入演示数据）",
              file=sys.stderr)
        return 2


def _schema_missing(exc: Exception) -> bool:
    """A table or column the command reads does not exist: the database was never migrated (an empty
    folder's SQLite file) or is behind the code."""
    text = str(getattr(exc, "orig", exc)).lower()
    return any(m in text for m in ("no such table", "no such column", "does not exist"))


if __name__ == "__main__":
    sys.exit(main())
