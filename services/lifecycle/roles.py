"""Who may act (DESIGN 2.3): the roles of users, the system's escalation and the public form."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ENTERPRISE = "enterprise"
    INSPECTOR = "inspector"
    SUPERVISOR = "supervisor"
    COMMITTEE = "committee"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"
    PUBLIC = "public"  # not a user role: the actor of the public report form


ROLE_LABELS = {
    Role.ENTERPRISE: "企业",
    Role.INSPECTOR: "检查员",
    Role.SUPERVISOR: "监管科室负责人",
    Role.COMMITTEE: "安委办",
    Role.AUDITOR: "审计",
    Role.ADMIN: "管理员",
    Role.SYSTEM: "系统",
    Role.PUBLIC: "群众",
}

USER_ROLES = tuple(r for r in Role if r is not Role.PUBLIC)
