"""The audit trail's scheduled work: a checkpoint (Merkle root of all chain heads, signed, also
written to the checkpoint log outside the database) and a nightly verification against that
evidence that raises an alert through the notification channels when the trail is broken."""

from __future__ import annotations

from typing import Any

from prefect import flow

from db.engine import read_only, transaction
from flows.context import run_logger, session_factory
from services.audit import alerts as audit_alerts, checkpoints as audit_checkpoints, verification as audit
from services.kernel.clock import utcnow
from services.kernel.settings import get_settings


class AuditTrailBroken(RuntimeError):
    """Raised so the Prefect run fails visibly, after the alert is queued."""


@flow(name="audit-checkpoint", flow_run_name="checkpoint")
def audit_checkpoint() -> dict[str, Any]:
    with transaction(session_factory()) as session:
        cp = audit_checkpoints.checkpoint(session, get_settings(), now=utcnow())
        result = {"id": cp.id, "leaf_count": cp.leaf_count, "merkle_root": cp.merkle_root, "key_id": cp.key_id}
    run_logger().info("checkpoint %s over %s chains", result["id"], result["leaf_count"])
    return result


@flow(name="audit-verify", flow_run_name="verify")
def audit_verify() -> dict[str, Any]:
    factory = session_factory()
    evidence = audit_checkpoints.evidence(get_settings())
    with read_only(factory) as session:
        report = audit.verify(session, evidence=evidence, now=utcnow())
    summary = report.as_dict()
    if report.ok:
        run_logger().info("audit trail intact: %s hazards, %s events", report.hazards_checked,
                              report.events_checked)
        return summary
    first = report.first_problem
    with transaction(factory) as session:
        audit_alerts.raise_alert(session, summary, now=utcnow())
    run_logger().error("audit trail broken: first bad event %s", summary.get("first_bad_event"))
    if first is None:
        raise AuditTrailBroken("审计链校验失败")
    # An event when one is named; else the problem itself (a checkpoint, a hazard row).
    where = (f"隐患 {first.hazard_code or first.hazard_id} 事件 {first.seq}" if first.seq is not None
             else first.message)
    raise AuditTrailBroken(f"审计链校验失败：{where}")
