"""index.html on the stick: one self-contained page (inline CSS and script, no external asset)
that opens offline in any browser from file://: a table of the calls, sortable by any column and
searchable, with an audio player per call; and a banner when the export is incomplete."""
from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from ..present.words import clock, plural, size

COLUMNS = (("started", "Time"), ("line", "Line"), ("direction", "Direction"), ("number", "Number"),
           ("name", "Name"), ("duration_s", "Length"))

STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em}
.incomplete{background:#fde2e1;border:1px solid #c0392b;padding:.6em;margin:.6em 0}
input[type=search]{font-size:1em;padding:.3em;width:20em;margin:.6em 0}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:middle}
th{cursor:pointer;background:#f4f4f4;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
audio{height:2em;width:16em}
"""

SCRIPT = """
(function(){
var table=document.getElementById('calls'),body=table.tBodies[0];
var rows=Array.prototype.slice.call(body.rows);
document.getElementById('search').addEventListener('input',function(){
  var q=this.value.toLowerCase(),shown=0;
  rows.forEach(function(r){var hit=r.textContent.toLowerCase().indexOf(q)>=0;r.hidden=!hit;if(hit)shown++;});
  document.getElementById('shown').textContent=shown;
});
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
  th.addEventListener('click',function(){
    var up=th.getAttribute('aria-sort')!=='ascending';
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(o){o.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',up?'ascending':'descending');
    rows.sort(function(a,b){
      var x=a.cells[i].getAttribute('data-key'),y=b.cells[i].getAttribute('data-key');
      var nx=parseFloat(x),ny=parseFloat(y);
      var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
      return up?c:-c;
    });
    rows.forEach(function(r){body.appendChild(r);});
  });
});
})();
"""


def _cell(key: Any, text: str) -> str:
    return f'<td data-key="{escape(str(key if key is not None else ""))}">{escape(text)}</td>'


def _row(r: dict[str, Any]) -> str:
    cells = [_cell(r["started_utc"], r["started"]), _cell(r["line"], r["line_name"] or str(r["line"])),
             _cell(r["direction"], r["direction"]), _cell(r["number"], r["number"]), _cell(r["name"], r["name"]),
             _cell(r["duration_s"], clock(r["duration_s"]) if r["duration_s"] is not None else "")]
    src = escape(quote(r["file"]), quote=True)      # '#' (a keyed digit) would start a fragment
    player = (f'<td><audio controls preload="none" src="{src}" title="{escape(r["title"])}"></audio> '
              f'<a href="{src}" download>file</a></td>')
    return f'<tr data-call="{escape(r["call_id"])}">{"".join(cells)}{player}</tr>'


def html(rows: list[dict[str, Any]], summary: dict[str, Any], zone_label: str) -> str:
    banner = ""
    if not summary.get("complete"):
        banner = (f'<p class="incomplete" id="incomplete"><strong>This export is incomplete.</strong> '
                  f'{escape(summary.get("stopped_because") or "It did not finish.")} '
                  f'The table lists only the recordings that were copied and verified.</p>')
    heads = "".join(f"<th>{escape(label)}</th>" for _, label in COLUMNS) + "<th>Recording</th>"
    total = sum(r["size_bytes"] for r in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hookline recordings</title><style>{STYLE}</style></head>
<body>
<h1>Hookline recordings</h1>
<p>{escape(plural(len(rows), "recording"))}, {escape(size(total))},
exported {escape(summary.get("finished_local", ""))}.
Times in {escape(zone_label)}. Every file is checked by SHA256SUMS (<code>sha256sum -c SHA256SUMS</code>).</p>
{banner}
<input type="search" id="search" placeholder="Search number, name, date" aria-label="Search">
<span><span id="shown">{len(rows)}</span> shown</span>
<table id="calls"><thead><tr>{heads}</tr></thead>
<tbody>
{chr(10).join(_row(r) for r in rows)}
</tbody></table>
<script>{SCRIPT}</script>
</body></html>
"""
