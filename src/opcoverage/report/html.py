"""Report stage, HTML: every record in one self-contained file, sortable and filterable in the browser, offline.

The records travel as JSON inside the page and a small script renders the table; nothing is fetched, so the file
works from a CI artifact, an e-mail or a file:// URL. The filters live in the URL's fragment
(``report.html#status=mismatch&target=torch:cpu``), so a filtered view can be linked, and the page's own errors
are shown on it (``#errors``) as well as in the console.
"""

from __future__ import annotations

import html
import json
from typing import Any

from opcoverage.results import ResultsFile

COLUMNS = ("op", "category", "target", "mode", "dtype", "sample", "status", "computed_as", "max_abs_err",
           "max_rel_err", "message", "sample_desc", "id")  # the id from types.case_id: the page never spells one
FILTERS = ("op", "category", "target", "mode", "dtype", "status")  # op and message filter by text, the rest by value
SHOWN_ROWS = 500  # rows rendered at once; the count says how many match

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 18px; margin: 0 0 .3em; }
#controls { display: flex; flex-wrap: wrap; gap: .5em 1em; margin: .6em 0; align-items: end; }
#controls label { display: flex; flex-direction: column; font-size: 11px; color: #555; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f4f6f8; cursor: pointer; position: sticky; top: 0; white-space: nowrap; }
th.asc::after { content: " \\25B2"; } th.desc::after { content: " \\25BC"; }
td.msg { max-width: 40em; word-break: break-word; }
code { font-size: 11px; user-select: all; }
.pass { color: #1d7a3f; } .mismatch { color: #7b2d8e; font-weight: bold; } .skipped { color: #888; }
.unsupported, .error, .crash, .timeout, .fallback { color: #b03a2e; }
#errors { color: #b03a2e; white-space: pre-wrap; }
</style></head><body>
<h1>__TITLE__</h1>
<p>__SUBTITLE__</p>
<div id="controls">
<label>op <input id="f-op" type="search" placeholder="substring or glob"></label>
<label>category <select id="f-category"></select></label>
<label>target <select id="f-target"></select></label>
<label>mode <select id="f-mode"></select></label>
<label>dtype <select id="f-dtype"></select></label>
<label>status <select id="f-status"></select></label>
<label>message <input id="f-message" type="search" placeholder="text in the message"></label>
</div>
<p id="count"></p>
<pre id="errors"></pre>
<table id="records"><thead><tr></tr></thead><tbody></tbody></table>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
window.addEventListener("error", function (e) {
  document.getElementById("errors").textContent += "error: " + e.message + "\\n";
});
const DATA = JSON.parse(document.getElementById("data").textContent);
const COLS = DATA.columns, ROWS = DATA.rows, ENV = DATA.environment, SHOWN = DATA.shown;
const col = Object.fromEntries(COLS.map((c, i) => [c, i]));
const HEAD = ["op", "category", "target", "mode", "dtype", "sample", "status", "max_abs_err", "max_rel_err",
              "message", "reproduce"];
const NUMERIC = new Set(["max_abs_err", "max_rel_err"]);
let sortKey = null, sortDesc = false;

function quote(s) {  // as Python's shlex.quote, so the command matches the Markdown report's
  s = String(s);
  if (s === "") return "''";
  return /^[A-Za-z0-9_@%+=:,.\\/-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\"'\\"'") + "'";
}
function reproduce(r) {
  const parts = ["opcoverage", "run", "--targets", r[col.target], "--ops", r[col.op], "--dtypes", r[col.dtype],
                 "--cases", r[col.id], "--seed", String(ENV.seed)];
  if (r[col.mode] !== "forward") parts.push("--modes", r[col.mode]);
  if (ENV.samples !== "quick") parts.push("--samples", ENV.samples);
  if (ENV.suite) parts.push("--suite", ENV.suite);
  for (const s of ENV.specs) if (s !== "builtin") parts.push("--specs", s);
  return parts.map(quote).join(" ");
}
function globToRegExp(text) {
  const body = text.replace(/[.+^${}()|[\\]\\\\]/g, "\\\\$&").replace(/\\*/g, ".*").replace(/\\?/g, ".");
  return new RegExp("^" + body + "$");
}
function fill(id, values) {
  const select = document.getElementById("f-" + id);
  select.add(new Option("(all)", ""));
  for (const v of [...new Set(values)].sort()) select.add(new Option(v === "" ? "(none)" : v, v));
}
function matches(r, f) {
  if (f.op) {
    const op = r[col.op];
    if (/[*?]/.test(f.op) ? !globToRegExp(f.op).test(op) : !op.includes(f.op)) return false;
  }
  for (const k of ["category", "target", "mode", "dtype", "status"])
    if (f[k] !== "" && r[col[k]] !== f[k]) return false;
  return !f.message || r[col.message].toLowerCase().includes(f.message.toLowerCase());
}
function current() {
  const f = {};
  for (const k of ["op", "category", "target", "mode", "dtype", "status", "message"])
    f[k] = document.getElementById("f-" + k).value;
  return f;
}
function cell(tr, text, cls) {
  const td = tr.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}
function render() {
  const f = current();
  let rows = ROWS.filter(r => matches(r, f));
  if (sortKey) {
    const i = col[sortKey], numeric = NUMERIC.has(sortKey);
    rows = rows.slice().sort((a, b) => {
      let x = a[i], y = b[i];
      if (numeric) { x = x === null ? -Infinity : x; y = y === null ? -Infinity : y; }
      const c = x < y ? -1 : x > y ? 1 : 0;
      return sortDesc ? -c : c;
    });
  }
  const body = document.querySelector("#records tbody");
  body.replaceChildren();
  for (const r of rows.slice(0, SHOWN)) {
    const tr = body.insertRow();
    tr.dataset.id = r[col.id];
    for (const h of HEAD) {
      if (h === "reproduce") {
        const code = document.createElement("code");
        code.textContent = reproduce(r);
        tr.insertCell().append(code);
      } else if (h === "status") {
        const lower = r[col.computed_as] ? " (computes " + r[col.dtype] + " in " + r[col.computed_as] + ")" : "";
        cell(tr, r[col.status] + lower, r[col.status]);
      } else if (NUMERIC.has(h)) {
        cell(tr, r[col[h]] === null ? "" : Number(r[col[h]]).toPrecision(3));
      } else {
        cell(tr, r[col[h]], h === "message" ? "msg" : "");
      }
    }
  }
  document.getElementById("count").textContent = rows.length + " of " + ROWS.length + " records match" +
    (rows.length > SHOWN ? "; showing the first " + SHOWN + ": narrow the filters to see the rest" : "");
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) params.set(k, v);
  if (sortKey) { params.set("sort", sortKey); if (sortDesc) params.set("order", "desc"); }
  history.replaceState(null, "", "#" + params.toString());
}
function setSort(key, desc) {
  sortKey = key; sortDesc = desc;
  for (const th of document.querySelectorAll("#records th"))
    th.className = th.dataset.key === sortKey ? (sortDesc ? "desc" : "asc") : "";
}
const header = document.querySelector("#records thead tr");
for (const h of HEAD) {
  const th = document.createElement("th");
  th.textContent = h;
  th.dataset.key = h;
  if (h !== "reproduce") th.addEventListener("click", () => { setSort(h, sortKey === h ? !sortDesc : false); render(); });
  header.append(th);
}
for (const k of ["category", "target", "mode", "dtype", "status"]) fill(k, ROWS.map(r => r[col[k]]));
for (const k of ["op", "category", "target", "mode", "dtype", "status", "message"])
  document.getElementById("f-" + k).addEventListener("input", render);
const initial = new URLSearchParams(location.hash.slice(1));
for (const [k, v] of initial) {
  const control = document.getElementById("f-" + k);
  if (control) control.value = v;
}
if (initial.get("sort") && col[initial.get("sort")] !== undefined) setSort(initial.get("sort"), initial.get("order") === "desc");
render();
document.body.dataset.ready = "1";
</script>
</body></html>
"""


def _rows(results_file: ResultsFile) -> list[list[Any]]:
    categories = results_file.environment.get("categories", {})
    rows = []
    for r in sorted(results_file.results, key=lambda r: (r.op, r.target, r.mode, r.dtype, r.sample)):
        rows.append([r.op, str(r.extra.get("op_type") or categories.get(r.op, "")), r.target, r.mode, r.dtype,
                     r.sample, r.status.value, str(r.extra.get("computed_as") or ""), r.max_abs_err, r.max_rel_err,
                     r.message, r.sample_desc, r.id])
    return rows


def render(results_file: ResultsFile, sources: list[str]) -> str:
    env = results_file.environment
    data = {"columns": list(COLUMNS), "rows": _rows(results_file), "shown": SHOWN_ROWS,
            "environment": {"seed": env.get("seed", 0), "samples": env.get("samples", "quick"),
                            "suite": env.get("suite"), "specs": [str(s) for s in env.get("specs", [])]}}
    # A "<" inside the script element could end it ("</script>") or open a comment ("<!--"): JSON's \u003c is the
    # same string.
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    frameworks = ", ".join(f"{k} {v}" for k, v in env.get("frameworks", {}).items())
    subtitle = (f"{len(results_file.results)} records from {', '.join(sources)} · catalog {env.get('catalog', '?')} · "
                f"seed {env.get('seed', 0)} · {env.get('cpu', '?')} · {frameworks}. Generated by "
                "`opcoverage report --html`; click a column to sort it.")
    title = f"Operator coverage records: {', '.join(sources)}"
    return (PAGE.replace("__TITLE__", html.escape(title)).replace("__SUBTITLE__", html.escape(subtitle))
            .replace("__DATA__", payload))
