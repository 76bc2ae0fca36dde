// fhirplugin try-it page: no dependencies, every request goes to this service (relative URLs).
"use strict";
(function () {
  const EXT_OUTCOME = "dev.fhirplugin.operation-outcome";
  const EXT_ISSUES = "dev.fhirplugin.issues";
  const $ = (id) => document.getElementById(id);
  const state = { services: [], request: null, response: null, bundleKey: null };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  async function getJson(url, init) {
    const r = await fetch(url, init);
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { status: r.status, ok: r.ok, body };
  }

  // --- tiny Markdown (paragraphs, lists, **bold**, *em*, `code`, [text](http…)) built as DOM nodes ---
  function inline(text, parent) {
    const re = /\*\*(.+?)\*\*|``(.+?)``|`([^`]+)`|\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)|\*([^*\s][^*]*)\*/g;
    let pos = 0, m;
    while ((m = re.exec(text))) {
      parent.append(text.slice(pos, m.index));
      if (m[1] !== undefined) parent.append(el("strong", { text: m[1] }));
      else if (m[2] !== undefined || m[3] !== undefined) parent.append(el("code", { text: m[2] !== undefined ? m[2] : m[3] }));
      else if (m[4] !== undefined) parent.append(el("a", { href: m[5], target: "_blank", rel: "noopener", text: m[4] }));
      else parent.append(el("em", { text: m[6] }));
      pos = re.lastIndex;
    }
    parent.append(text.slice(pos));
    return parent;
  }
  function markdown(md) {
    const box = el("div", { class: "detail" });
    for (const block of String(md).split(/\n\s*\n/)) {
      const lines = block.split("\n").filter((l) => l.trim());
      if (!lines.length) continue;
      if (lines.every((l) => /^\s*[-*] /.test(l))) {
        const ul = el("ul");
        lines.forEach((l) => ul.append(inline(l.replace(/^\s*[-*] /, ""), el("li"))));
        box.append(ul);
      } else {
        box.append(inline(lines.join(" "), el("p")));
      }
    }
    return box;
  }

  // --- JSON shown with one span per value, data-path = FHIRPath below the resource type ---
  function renderJson(value, path, indent, changedPaths) {
    const span = el("span", { "data-path": path });
    if (changedPaths && changedPaths.has(path)) span.classList.add("added");
    const pad = "  ".repeat(indent + 1);
    if (Array.isArray(value)) {
      if (!value.length) { span.append("[]"); return span; }
      span.append("[\n");
      value.forEach((v, i) => {
        span.append(pad, renderJson(v, `${path}[${i}]`, indent + 1, changedPaths), i < value.length - 1 ? ",\n" : "\n");
      });
      span.append("  ".repeat(indent) + "]");
    } else if (value && typeof value === "object") {
      const keys = Object.keys(value);
      if (!keys.length) { span.append("{}"); return span; }
      span.append("{\n");
      keys.forEach((k, i) => {
        const childPath = path ? `${path}.${k}` : k;
        // a list's items carry the index: data-path of the list itself is the bare name
        span.append(pad, el("span", { class: "key", text: JSON.stringify(k) }), ": ",
          renderJson(value[k], childPath, indent + 1, changedPaths), i < keys.length - 1 ? ",\n" : "\n");
      });
      span.append("  ".repeat(indent) + "}");
    } else {
      span.classList.add(typeof value === "string" ? "str" : "num");
      span.append(JSON.stringify(value));
    }
    return span;
  }

  function changedPathsOf(before, after, path, out) {
    if (JSON.stringify(before) === JSON.stringify(after)) return out;
    if (before && after && typeof before === "object" && typeof after === "object" && Array.isArray(before) === Array.isArray(after)) {
      for (const k of Object.keys(after)) {
        const p = Array.isArray(after) ? `${path}[${k}]` : (path ? `${path}.${k}` : k);
        changedPathsOf(before[k], after[k], p, out);
      }
    } else {
      out.add(path);
    }
    return out;
  }

  // --- the request: a hook request as given, or a Bundle wrapped by the service ---
  function contextBundle(req) {
    const ctx = (req && req.context) || {};
    for (const key of ["draftOrders", "draftClaims"]) {
      if (ctx[key] && ctx[key].resourceType === "Bundle") return { key: `context.${key}`, bundle: ctx[key] };
    }
    const entries = [];
    for (const [k, v] of Object.entries((req && req.prefetch) || {})) {
      if (v && v.resourceType === "Bundle") (v.entry || []).forEach((e) => e && e.resource && entries.push({ resource: e.resource }));
      else if (v && v.resourceType) entries.push({ resource: v });
    }
    return { key: "prefetch", bundle: { resourceType: "Bundle", type: "collection", entry: entries } };
  }

  async function buildRequest() {
    let parsed;
    try { parsed = JSON.parse($("input").value); } catch (e) { throw new Error(`The input is not JSON: ${e.message}`); }
    const serviceId = $("service").value;
    let req = parsed;
    if (!(parsed && typeof parsed.hook === "string" && parsed.context)) {
      const r = await getJson(`/try/request?service=${encodeURIComponent(serviceId)}`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(parsed),
      });
      if (!r.ok) throw outcomeError(r);
      req = r.body;
    }
    req = JSON.parse(JSON.stringify(req));
    if ($("noProblemsCard").checked) {
      req.extension = Object.assign({}, req.extension, { "davinci-crd.configuration": { "no-problems-card": true } });
    }
    return req;
  }

  function outcomeError(r) {
    const issues = (r.body && r.body.issue) || [];
    const text = issues.map((i) => `${(i.details && i.details.text) || i.diagnostics || ""}${i.expression ? " (" + i.expression.join(", ") + ")" : ""}`).join(" ");
    const err = new Error(`HTTP ${r.status}: ${text || "the service refused the request"}`);
    err.outcome = r.body;
    return err;
  }

  function serviceFor(hook) {
    const s = state.services.find((x) => x.hook === hook);
    return s ? s.id : $("service").value;
  }

  async function run() {
    $("error").hidden = true;
    $("status").textContent = "running…";
    try {
      const req = await buildRequest();
      const serviceId = serviceFor(req.hook);
      $("service").value = serviceId;
      const r = await getJson(`/cds-services/${encodeURIComponent(serviceId)}`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req),
      });
      if (!r.ok) throw outcomeError(r);
      state.request = req;
      state.response = r.body;
      show(req, r.body);
      $("status").textContent = `${serviceId}: ${r.body.cards.length} card(s)`;
    } catch (e) {
      $("results").hidden = true;
      $("error").hidden = false;
      $("error").textContent = e.message;
      $("status").textContent = "failed";
    }
  }

  function issuePath(expr, bundleKey) {
    // Bundle.entry[1].resource.code → entry[1].resource.code (a path in the shown Bundle)
    if (bundleKey === "prefetch") return null;
    const m = /^Bundle\.(.+)$/.exec(expr || "");
    return m ? m[1] : (expr === "Bundle" ? "" : null);
  }

  function show(req, resp) {
    const { key, bundle } = contextBundle(req);
    state.bundleKey = key;
    $("results").hidden = false;
    $("changed").hidden = true;
    $("resourceWhere").textContent = key;
    const pre = $("resource");
    pre.replaceChildren(renderJson(bundle, "", 0));
    const oo = (resp.extension && resp.extension[EXT_OUTCOME]) || { issue: [] };
    const list = $("issues");
    list.replaceChildren();
    for (const iss of oo.issue || []) {
      const path = (iss.expression || []).map((e) => issuePath(e, key)).find((p) => p !== null && p !== undefined);
      const target = path !== undefined && path !== null ? pre.querySelector(`[data-path="${CSS.escape(path)}"]`) : null;
      if (target) target.classList.add("hl", `hl-${iss.severity}`);
      const code = iss.details && iss.details.coding && iss.details.coding[0] ? iss.details.coding[0].code + " " : "";
      const li = el("li", { class: iss.severity },
        el("span", { class: "sev", text: iss.severity }),
        el("b", { text: code }), (iss.details && iss.details.text) || "",
        el("span", { class: "expr", text: (iss.expression || []).join(", ") + (target ? "" : (iss.expression ? " (not in the shown Bundle)" : "")) }));
      if (target) {
        li.dataset.located = "true";
        li.addEventListener("click", () => {
          target.scrollIntoView({ block: "center" });
          target.classList.add("flash");
          setTimeout(() => target.classList.remove("flash"), 1200);
        });
      }
      list.append(li);
    }
    $("issueCount").textContent = `${(oo.issue || []).length}`;
    const cards = $("cards");
    cards.replaceChildren();
    for (const c of resp.cards) cards.append(renderCard(c));
    $("cardCount").textContent = `${resp.cards.length}`;
    if (!resp.cards.length) cards.append(el("p", { class: "empty", text: "No cards: nothing to change in what was checked." }));
  }

  function renderCard(c) {
    const box = el("article", { class: `card ${c.indicator}`, "data-uuid": c.uuid || "" });
    box.append(el("div", {}, el("span", { class: "indicator", text: c.indicator }), el("span", { class: "summary", text: c.summary })));
    if (c.detail) box.append(markdown(c.detail));
    for (const s of c.suggestions || []) {
      const row = el("div", { class: "suggestion" });
      const btn = el("button", { type: "button", class: "apply", text: "Apply suggestion" });
      btn.addEventListener("click", () => { apply(s); btn.disabled = true; row.append(el("span", { class: "applied", text: "applied" })); });
      row.append(btn, el("span", { text: s.label + (s.isRecommended ? " (recommended)" : "") }));
      box.append(row);
    }
    for (const l of c.links || []) {
      box.append(el("div", { class: "links" }, el("a", { href: l.url, target: "_blank", rel: "noopener", text: l.label })));
    }
    const src = c.source || {};
    const label = src.url ? el("a", { href: src.url, target: "_blank", rel: "noopener", text: src.label }) : src.label;
    box.append(el("div", { class: "source" }, "Source: ", label, src.topic ? ` · ${src.topic.code}` : ""));
    return box;
  }

  function apply(suggestion) {
    const req = state.request;
    const ctx = req.context || {};
    const bundleKey = ["draftOrders", "draftClaims"].find((k) => ctx[k] && ctx[k].resourceType === "Bundle");
    const holders = bundleKey ? [ctx[bundleKey]] : Object.values(req.prefetch || {}).filter((v) => v && v.resourceType === "Bundle");
    const shown = [];
    for (const a of suggestion.actions || []) {
      if (a.type === "update" && a.resource) {
        for (const b of holders) {
          const e = (b.entry || []).find((x) => x.resource && x.resource.resourceType === a.resource.resourceType && x.resource.id === a.resource.id);
          if (e) {
            shown.push({ what: `${a.description}: ${a.resource.resourceType}/${a.resource.id} updated`, before: e.resource, after: a.resource });
            e.resource = a.resource;
          }
        }
      } else if (a.type === "delete" && a.resourceId) {
        for (const b of holders) {
          const before = (b.entry || []).length;
          b.entry = (b.entry || []).filter((x) => !(x.resource && `${x.resource.resourceType}/${x.resource.id}` === a.resourceId));
          if (b.entry.length < before) shown.push({ what: `${a.description}: ${a.resourceId} removed from the request`, before: null, after: null });
        }
      } else if (a.type === "create" && a.resource && holders[0]) {
        (holders[0].entry = holders[0].entry || []).push({ resource: a.resource });
        shown.push({ what: `${a.description}: ${a.resource.resourceType} created`, before: null, after: a.resource });
      }
    }
    $("input").value = JSON.stringify(req, null, 2);
    $("changed").hidden = false;
    $("changedWhat").textContent = shown.map((s) => s.what).join("; ") || "The suggestion changed nothing in the shown request.";
    const withResource = shown.find((s) => s.after);
    const pre = $("changedJson");
    if (withResource) {
      pre.hidden = false;
      pre.replaceChildren(renderJson(withResource.after, "", 0, changedPathsOf(withResource.before, withResource.after, "", new Set())));
    } else {
      pre.hidden = true;
      pre.replaceChildren();
    }
  }

  async function loadExample(name) {
    const r = await getJson(`/try/examples/${encodeURIComponent(name)}`);
    if (!r.ok) throw outcomeError(r);
    $("example").value = name;
    $("service").value = r.body.service;
    $("input").value = JSON.stringify(r.body.request, null, 2);
    $("noProblemsCard").checked = false;
  }

  async function init() {
    const [disc, ex] = await Promise.all([getJson("/cds-services"), getJson("/try/examples")]);
    state.services = (disc.body && disc.body.services) || [];
    for (const s of state.services) $("service").append(el("option", { value: s.id, text: s.id === s.hook ? s.id : `${s.hook} (${s.id})` }));
    for (const e of (ex.body && ex.body.examples) || []) $("example").append(el("option", { value: e.name, text: e.title }));
    $("controls").addEventListener("submit", (ev) => { ev.preventDefault(); run(); });
    $("rerun").addEventListener("click", run);
    $("example").addEventListener("change", async () => {
      if ($("example").value) { await loadExample($("example").value); run(); }
    });
    const wanted = new URLSearchParams(location.search).get("example");
    if (wanted) {
      try { await loadExample(wanted); await run(); } catch (e) { $("error").hidden = false; $("error").textContent = e.message; }
    }
    document.body.dataset.ready = "true";
  }
  init();
})();
