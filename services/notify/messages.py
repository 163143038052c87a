"""What a notification says (zh-CN): each lifecycle action and each ladder step has its own text,
a Jinja2 template under `templates/notifications/` (`actions/<action>.txt`, `steps/<step>.txt`,
`digest.txt`, `alert_audit.txt`), with blocks `subject` and `body` (and `line`, a step's one line
in a digest). Templates are plain text (no escaping: nothing here is HTML; the web UI escapes
what it shows) and strict (a missing variable is an error, caught by the tests).

Every template gets `h`, the hazard (code, title, enterprise, level, listing, deadline, ...: the
decision's own facts where its event carries them, else the hazard as it is), `e`, the act (its
label, day, actor, body; for a step its sweep day `as_of`, the new listing and the skipped steps),
`reader` (`enterprise`, `official` or `reporter`) and `due`, the reader's next deadline.

A delivery's body is this JSON (the webhook receives it byte for byte, signed):
`{"kind", "subject", "text", "occurred_at", "as_of"?, "items": [{"hazard_id", "hazard_code",
"title", "enterprise", "deadline", "events": [{"action", "step"?, "label", "seq", "event_id",
"skipped"?}]}]}`. Inbox items and e-mails show `subject` and `text`; the inbox dates an item by
`occurred_at`, the time of the act (for a digest, of its sweep), not of the delivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound

from services.kernel.clock import cn_date, local_date
from services.calendar.workdays import default_calendar
from services.escalation.ladder import STEP_LABELS, Step, configured_ladder
from services.lifecycle.states import STATE_LABELS, State
from services.lifecycle.table import LIFECYCLE
from services.notify.recipients import Act, HazardFacts
from services.outbox import kinds
from services.kernel.regions import LEVEL_LABELS

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "notifications"
DIGEST_KIND = "escalation.digest"
LEVELS = {"general": "一般事故隐患", "major": "重大事故隐患"}
# Who reads a message of this kind: the text speaks to the enterprise, to officials or to a reporter.
READERS = {kinds.NOTIFY_ENTERPRISE: "enterprise", kinds.NOTIFY_REPORTER: "reporter"}
OPEN = frozenset(s.value for s in State) - {State.CLOSED.value, State.DISMISSED.value}


def _cn(value: date | str | None) -> str:
    if value is None or value == "":
        return "—"
    return cn_date(date.fromisoformat(value) if isinstance(value, str) else value)


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["cn_date"] = _cn


def _block(template: Template, name: str, ctx: dict[str, Any]) -> str:
    """One block of a template, its lines stripped and blank lines dropped."""
    text = "".join(template.blocks[name](template.new_context(ctx)))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _template(path: str, fallback: str | None = None) -> Template:
    try:
        return _env.get_template(path)
    except TemplateNotFound:
        if fallback is None:
            raise
        return _env.get_template(fallback)


def step_template(step: str) -> Template:
    """A step's own text; a step without one (added to the ladder later) reads its label."""
    return _template(f"steps/{step}.txt", "steps/_step.txt")


def event_label(payload: dict[str, Any]) -> str:
    """`登记（限期整改）` for an action; the ladder step's label for an escalation, with the new
    listing level for an elevation (`提级督办（省级）`)."""
    step = payload.get("step")
    if step is None:
        spec = LIFECYCLE.get(payload.get("action", ""))
        return spec.label if spec else payload.get("action", "")
    label = STEP_LABELS[Step[step]]
    if step == Step.elevate.name and payload.get("listing_level"):
        label += f"（{LEVEL_LABELS[payload['listing_level']]}）"
    return label


def skipped_labels(payload: dict[str, Any]) -> list[str]:
    return [f"“{STEP_LABELS[Step[s]]}”" for s in payload.get("skipped") or () if s in Step.__members__]


def hazard_context(hazard: HazardFacts, act: Act | None = None) -> dict[str, Any]:
    """The hazard as a message states it: the act's own deadline (a granted extension's new one)
    before the hazard's current one."""
    changes = act.changes if act else {}
    deadline = changes.get("deadline") or hazard.deadline
    listing = changes.get("listing_level") or hazard.listing_level
    return {
        "code": hazard.code, "title": hazard.title,
        "enterprise": hazard.enterprise_name or "（生产经营单位未确定）",
        "level": LEVELS.get(hazard.level or "", "事故隐患"), "major": hazard.level == "major",
        "listing": LEVEL_LABELS.get(listing or "", ""), "listing_body": changes.get("listing_body") or hazard.listing_body,
        "deadline": deadline, "plan_due": changes.get("plan_due") or hazard.plan_due,
        "state": STATE_LABELS.get(hazard.state, hazard.state),
        "open": hazard.state in OPEN, "reported_on": local_date(hazard.created_at) if hazard.created_at else None,
    }


def _act_context(payload: dict[str, Any], act: Act | None, failed_acceptances: int = 0) -> dict[str, Any]:
    listing = payload.get("listing_level")
    return {
        "action": payload.get("action"), "step": payload.get("step"), "label": event_label(payload),
        "day": local_date(act.occurred_at) if act else None, "actor": act.actor_name if act else "",
        "body": act.body if act else {}, "as_of": payload.get("as_of"),
        "listing": LEVEL_LABELS.get(listing, "") if listing else "", "failed_acceptances": failed_acceptances,
    }


def _frame(text: str, skipped: list[str], sign_off: bool) -> str:
    frame = _env.get_template("_frame.txt")
    lines = [text]
    if skipped:
        lines.append(_block(frame, "skipped", {"skipped": skipped}))
    if sign_off:
        lines.append(_block(frame, "sign_off", {}))
    return "\n".join(lines)


@dataclass
class Message:
    """A notification's content; `items` lists each hazard once, its events in order."""

    kind: str
    subject: str
    text: str
    items: list[dict[str, Any]]
    as_of: str | None = None
    occurred_at: str | None = None  # the act's time (ISO, UTC); a digest's: its first step's
    extra: dict[str, Any] = field(default_factory=dict)  # a digest's reader and facts

    def body(self) -> str:
        data: dict[str, Any] = {"kind": self.kind, "subject": self.subject, "text": self.text, "items": self.items,
                                **self.extra}
        if self.as_of:
            data["as_of"] = self.as_of
        if self.occurred_at:
            data["occurred_at"] = self.occurred_at
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _item(hazard: HazardFacts, act: Act | None) -> dict[str, Any]:
    h = hazard_context(hazard, act)
    return {"hazard_id": hazard.id, "hazard_code": hazard.code, "title": hazard.title, "enterprise": h["enterprise"],
            "deadline": h["deadline"].isoformat() if isinstance(h["deadline"], date) else h["deadline"],
            "events": []}


def _event(payload: dict[str, Any], act: Act | None = None) -> dict[str, Any]:
    event = {"action": payload.get("action"), "label": event_label(payload), "seq": payload.get("seq"),
             "event_id": payload.get("event_id")}
    if "step" in payload:
        event["step"] = payload["step"]
        if payload.get("listing_level"):
            event["listing_level"] = payload["listing_level"]
        if payload.get("skipped"):
            event["skipped"] = list(payload["skipped"])
    if act is not None:
        event["occurred_at"] = act.occurred_at.isoformat()
    return event


def _due(payload: dict[str, Any], act: Act | None) -> date | None:
    """The reader's next deadline where the hazard's own deadline is not it: an acceptance
    request is to be reviewed within the ladder's `review_overdue` working days."""
    if payload.get("action") == "request_acceptance" and act is not None:
        return default_calendar().add_working_days(local_date(act.occurred_at), configured_ladder().review_overdue)
    return None


def single(kind: str, hazard: HazardFacts, payload: dict[str, Any], act: Act | None = None) -> Message:
    """The message of one action to one audience (its `kind`)."""
    due = _due(payload, act)
    template = _template(f"actions/{payload.get('action')}.txt")
    reader = READERS.get(kind, "official")
    ctx = {"h": hazard_context(hazard, act), "e": _act_context(payload, act), "reader": reader, "due": due}
    text = _frame(_block(template, "body", ctx), [], sign_off=reader != "reporter")
    item = _item(hazard, act)
    item["events"].append(_event(payload, act))
    return Message(kind, _block(template, "subject", ctx), text, [item],
                   occurred_at=act.occurred_at.isoformat() if act else None)


@dataclass
class Digest:
    """One recipient's escalations of one sweep day, gathered hazard by hazard. `reader` is who
    receives it (`enterprise` or `official`): the steps' texts speak to them."""

    as_of: str
    reader: str = "official"
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    # the facts each hazard's lines are written from (kept in the body, so a queued digest that
    # takes more escalations is rewritten from what it holds)
    facts: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, hazard: HazardFacts, payload: dict[str, Any], act: Act | None = None) -> None:
        item = self.items.setdefault(hazard.id, _item(hazard, act))
        self.facts.setdefault(hazard.id, {**_jsonable(hazard_context(hazard, act)),
                                          "failed_acceptances": hazard.failed_acceptances})
        event = _event(payload, act)
        if all(e.get("event_id") != event.get("event_id") or e.get("seq") != event.get("seq") for e in item["events"]):
            item["events"].append(event)

    @classmethod
    def from_body(cls, body: str) -> Digest:
        """The digest a queued delivery holds (its body, as `Message.body` wrote it)."""
        data = json.loads(body)
        items = {item["hazard_id"]: item for item in data["items"]}
        facts = {int(k): v for k, v in (data.get("facts") or {}).items()}
        return cls(data["as_of"], data.get("reader", "official"), items, facts)

    def merge(self, other: Digest) -> None:
        for hazard_id, theirs in other.items.items():
            mine = self.items.setdefault(hazard_id, {**theirs, "events": []})
            mine["events"] += [e for e in theirs["events"] if e not in mine["events"]]
            if hazard_id in other.facts:
                self.facts.setdefault(hazard_id, other.facts[hazard_id])

    def _context(self, item: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        h = dict(self.facts.get(item["hazard_id"]) or {
            "code": item["hazard_code"], "title": item["title"], "enterprise": item.get("enterprise", ""),
            "level": "事故隐患", "major": False, "listing": "", "listing_body": None, "deadline": item.get("deadline"),
            "plan_due": None, "state": "", "open": True, "reported_on": None})
        payload = {**event, "as_of": self.as_of}
        return {"h": h, "reader": self.reader, "due": None,
                "e": _act_context(payload, None, int(h.get("failed_acceptances") or 0))}

    def message(self) -> Message:
        items = sorted(self.items.values(), key=lambda i: i["hazard_code"])
        for item in items:
            item["events"].sort(key=lambda e: e["seq"] or 0)
        times = [e["occurred_at"] for i in items for e in i["events"] if e.get("occurred_at")]
        first = min(times) if times else None
        if len(items) == 1 and len(items[0]["events"]) == 1:  # one step of one hazard: its own text
            item, event = items[0], items[0]["events"][0]
            template, ctx = step_template(event["step"]), self._context(item, event)
            text = _frame(_block(template, "body", ctx), skipped_labels(event), sign_off=True)
            subject = _block(template, "subject", ctx)
        else:
            lines = []
            for item in items:
                said = []
                for event in item["events"]:
                    line = _block(step_template(event["step"]), "line", self._context(item, event))
                    skipped = skipped_labels(event)
                    said.append(line + (f"（同时到期的{'、'.join(skipped)}不再另行通知）" if skipped else ""))
                lines.append({"h": self._context(item, item["events"][0])["h"], "lines": said})
            template = _env.get_template("digest.txt")
            ctx = {"as_of": self.as_of, "items": lines}
            text = _frame(_block(template, "body", ctx), [], sign_off=True)
            subject = _block(template, "subject", ctx)
        return Message(DIGEST_KIND, subject, text, items, as_of=self.as_of, occurred_at=first,
                       extra={"reader": self.reader, "facts": {str(k): v for k, v in sorted(self.facts.items())}})


def _jsonable(ctx: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in ctx.items()}


def alert(kind: str, payload: dict[str, Any]) -> Message:
    """An alert about the service (today: `alert.audit`, the nightly verification failed)."""
    first = payload.get("first_bad_event") or {}
    hazard = first.get("hazard_code") or first.get("hazard_id")
    if not first:
        where = "检查点与审计链不一致"
    elif hazard is None:  # about the checkpoints or their log, not one hazard's events
        where = first.get("message") or "检查点与审计链不一致"
    else:
        event = f"，第 {first['seq']} 号事件" if first.get("seq") is not None else ""
        where = f"隐患 {hazard}{event}（{first.get('message', '')}）"
    template = _env.get_template("alert_audit.txt")
    ctx = {"where": where, "problems": len(payload.get("problems", []) or [1])}
    return Message(kind, _block(template, "subject", ctx), _block(template, "body", ctx), [])
