"""One unit of work (ARCHITECTURE.md): only db/ commits, and transactions are opened only by db/
and the entry points. The domain takes a Session (or, for a job in batches, a `UnitOfWork`); the
API's routes and the web UI's pages take theirs from the `Db`/`ReadDb` dependencies."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPENERS = {"transaction", "read_only", "sessionmaker", "make_session_factory"}


# The web UI's login machinery runs before any route, in units of its own: a refused login must
# still count its failure, a disabled user's sessions end though the request is refused.
WEB_INFRASTRUCTURE = {"app/web/session.py", "app/web/login_throttle.py"}


def _modules(folder: str) -> list[Path]:
    paths = (ROOT / folder).rglob("*.py")
    return sorted(p for p in paths if p.relative_to(ROOT).as_posix() not in WEB_INFRASTRUCTURE)


def _offences(path: Path) -> list[str]:
    """Imports of a transaction opener, calls of commit/rollback, and `ctx.factory` uses."""
    return [f"{path.relative_to(ROOT)}: {o}" for o in _found(path)]


def _found(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module in {"db.engine", "sqlalchemy.orm"}:
            found += [f"imports {a.name}" for a in node.names if a.name in OPENERS]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in {"commit", "rollback"}:
                found.append(f"calls .{node.func.attr}()")
        elif isinstance(node, ast.Attribute) and node.attr == "factory" and _is_ctx(node.value):
            found.append("uses ctx.factory")
    return found


def _is_ctx(node: ast.AST) -> bool:
    """`ctx`, `request.app.state.ctx`, `_ctx(request)`, `ctx_of(request)`: the service context."""
    if isinstance(node, ast.Call):
        node = node.func
    return getattr(node, "id", "") in {"ctx", "_ctx", "ctx_of"} or getattr(node, "attr", "") in {"ctx", "ctx_of"}


@pytest.mark.parametrize("folder", ["services", "app/api/routers", "app/web"])
def test_no_transaction_is_opened_outside_db_and_the_entry_points(folder):
    offences = [o for path in _modules(folder) for o in _offences(path)]
    assert offences == []


def test_the_rule_sees_an_offence(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from db.engine import transaction\n\ndef f(session, ctx):\n    session.commit()\n"
                   "    return ctx.factory\n", encoding="utf-8")
    assert sorted(_found(bad)) == ["calls .commit()", "imports transaction", "uses ctx.factory"]


def test_the_rule_sees_the_context_however_it_is_reached(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from db.engine import read_only\n\ndef f(request, uow):\n"
                   "    a = request.app.state.ctx.factory\n    b = _ctx(request).factory\n"
                   "    c = web_session.ctx_of(request).factory\n    return uow.factory\n", encoding="utf-8")
    assert sorted(_found(bad)) == ["imports read_only"] + ["uses ctx.factory"] * 3


def test_the_web_ui_is_held_to_the_rule_but_its_login_machinery():
    """Every page module is checked; only the session and login-throttle machinery (dependencies run
    before the route, in units of their own) are not."""
    checked = {p.relative_to(ROOT).as_posix() for p in _modules("app/web")}
    assert {"app/web/pages.py", "app/web/public_pages.py", "app/web/auth_pages.py"} <= checked
    assert not checked & WEB_INFRASTRUCTURE


def test_services_batch_jobs_take_a_unit_of_work_not_a_session_factory():
    """A job's first parameter is `uow: UnitOfWork`; no service signature mentions sessionmaker."""
    mentions = [str(p.relative_to(ROOT)) for p in _modules("services") if "sessionmaker" in p.read_text("utf-8")]
    assert mentions == []


def test_a_bare_session_factory_is_refused_by_a_batch_job(factory):
    """Handing a job the session factory instead of its UnitOfWork fails at once: it must not run
    with sessions that are never committed."""
    from datetime import datetime, timezone

    from services import documents

    with pytest.raises(AttributeError):
        documents.issue_pending(factory, now=datetime(2026, 6, 1, tzinfo=timezone.utc))
