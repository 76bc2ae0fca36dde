"""Rule pages: ``GET /rules`` and ``GET /rules/{id}``, HTML for people, JSON for programs.

The text is the rule's docstring (sections What it checks / Why / Example / Fix / Source), the same
source ``fhirplugin rules ID`` prints; cards link here (``source.url`` and ``links``). The pages are
self-contained (inline CSS, no script, no external resource), so they work offline.
"""

from __future__ import annotations

import html
import re

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, JSONResponse

from fhirplugin.rules.base import DOC_SECTIONS, REGISTRY, Rule
from fhirplugin.service.errors import ServiceError

_CODE = re.compile(r"``(.+?)``|`([^`]+)`")
_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2329;background:#f6f7f9}
main{max-width:52rem;margin:0 auto;padding:1.5rem;background:#fff;min-height:100vh}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.05rem;margin:1.4rem 0 .3rem;color:#2b4a6f}
code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#eef1f4;padding:0 .25em;border-radius:3px}
.meta{color:#55606b;font-size:.9rem}.sev{display:inline-block;padding:0 .5em;border-radius:3px;color:#fff}
.sev-error,.sev-fatal{background:#b3261e}.sev-warning{background:#9a6700}.sev-information{background:#2f6f9f}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e3e6ea;padding:.3rem .4rem;
text-align:left;vertical-align:top}nav a{margin-right:1rem}
"""


def rule_doc(cls: type[Rule], base_url: str | None = None) -> dict:
    """The rule's documentation as data (the JSON page, and what the HTML page shows)."""
    doc: dict = {
        "id": cls.id,
        "name": cls.name,
        "family": cls.family,
        "severity": cls.severity.value,
        "issueType": cls.issue_type,
        "summary": cls.summary(),
        "sections": {k: v for k, v in cls.doc_sections().items() if v},
    }
    if base_url:
        doc["url"] = f"{base_url.rstrip('/')}/rules/{cls.id}"
    return doc


def _inline(text: str) -> str:
    out, pos = [], 0
    for m in _CODE.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        out.append(f"<code>{html.escape(m.group(1) or m.group(2))}</code>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _blocks(text: str) -> str:
    """Docstring text → paragraphs and bullet lists (lines starting with ``- ``)."""
    parts: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if lines and lines[0].startswith(("- ", "* ")):
            items: list[str] = []
            for ln in lines:
                if ln.startswith(("- ", "* ")):
                    items.append(ln[2:])
                elif items:
                    items[-1] += " " + ln
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        else:
            parts.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        '<nav class="meta"><a href="/rules">All rules</a><a href="/try">Try it</a>'
        '<a href="/cds-services">CDS services</a></nav>'
        f"{body}</main></body></html>"
    )


def rule_html(doc: dict) -> str:
    sev = doc["severity"]
    body = [
        f'<h1>{html.escape(doc["id"])} <small class="meta">{html.escape(doc["name"])}</small></h1>',
        (
            f'<p class="meta"><span class="sev sev-{html.escape(sev)}">{html.escape(sev)}</span> '
            f"IssueType {html.escape(doc['issueType'])} · family {html.escape(doc['family'])}</p>"
        ),
        f'<p class="summary">{_inline(doc["summary"])}</p>',
    ]
    for name in DOC_SECTIONS:
        text = doc["sections"].get(name)
        if text:
            slug = name.lower().replace(" ", "-")
            body.append(f'<section id="{slug}"><h2>{html.escape(name)}</h2>{_blocks(text)}</section>')
    return _page(f"{doc['id']} {doc['name']} — fhirplugin", "\n".join(body))


def index_html(docs: list[dict]) -> str:
    rows = "".join(
        f'<tr><td><a href="/rules/{html.escape(d["id"])}">{html.escape(d["id"])}</a></td>'
        f"<td>{html.escape(d['severity'])}</td><td>{html.escape(d['family'])}</td>"
        f"<td>{_inline(d['summary'])}</td></tr>"
        for d in docs
    )
    return _page(
        "fhirplugin rules",
        "<h1>fhirplugin rules</h1><table><thead><tr><th>id</th><th>severity</th><th>family</th>"
        f"<th>what it finds</th></tr></thead><tbody>{rows}</tbody></table>",
    )


def wants_json(request: Request) -> bool:
    if request.query_params.get("format") == "json":
        return True
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def install(app: FastAPI, base_url) -> None:
    """``base_url(request)`` → the service's public base URL."""

    @app.get("/rules", tags=["rules"])
    def rules_index(request: Request):
        """Every rule, one line each (HTML; JSON with `Accept: application/json`)."""
        docs = [rule_doc(cls, base_url(request)) for cls in REGISTRY.all()]
        if wants_json(request):
            return JSONResponse({"rules": docs})
        return HTMLResponse(index_html(docs))

    @app.get("/rules/{rule_id}", tags=["rules"])
    def rule_page(request: Request, rule_id: str):
        """One rule's documentation: what it checks, why, example, fix, source."""
        cls = REGISTRY.get(rule_id)
        if cls is None:
            raise ServiceError(404, f"No rule {rule_id!r}; GET /rules lists them.", code="not-found")
        doc = rule_doc(cls, base_url(request))
        if wants_json(request):
            return JSONResponse(doc)
        return HTMLResponse(rule_html(doc))
