"""Official documents (公文, DESIGN 2.6): issued from the outbox by `issue_pending`, read with
`list_for_hazard` and `get_document`, printed with `render_pdf`.

Modules: `kinds` (the kinds and their labels), `issuers` (issuing body, gapless numbers),
`content` (what a document says), `render` (Jinja2 → HTML, HTML → PDF), `engine` (issuing),
`access` (reading under the hazard's scope).
"""

from services.documents.access import DocumentOut, get_document, list_for_hazard
from services.documents.engine import IssueReport, issue_pending, next_batch
from services.documents.kinds import KINDS
from services.documents.render import render_pdf

__all__ = ["DocumentOut", "IssueReport", "KINDS", "get_document", "issue_pending", "list_for_hazard",
           "next_batch", "render_pdf"]
