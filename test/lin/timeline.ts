/**
 * The timeline picture of a round: one self-contained HTML file (no network access needed) with a
 * canvas that draws every operation as a bar from invocation to completion, one row per client,
 * coloured by outcome, with the fault intervals shaded behind them and named on top; with the
 * membership nemesis, a row above the clients shows each move (a thin band) and each change it
 * asked for (a bar coloured by the answer). Hovering a bar shows the operation or the change; the
 * slider zooms the time axis.
 */

import { describeOp, type Operation } from './history.js';
import { type ChangeOutcome, describeConf, type MembershipRecord } from './membership-plan.js';
import type { Fault } from './nemesis.js';

export interface TimelineInput {
  readonly title: string;
  /** Shown above the picture (e.g. the report's head). */
  readonly summary: string;
  readonly history: readonly Operation[];
  readonly faults: readonly Fault[];
  /** The membership nemesis's moves and changes, when it ran. */
  readonly membership?: MembershipRecord | null;
  /** Row names by client number (e.g. "final" for the final reads). */
  readonly clientNames: ReadonlyMap<number, string>;
}

const outcomeCode = { ok: 0, fail: 1, info: 2 } as const;
/** A change's bar: 0 done, 1 refused or not sent (nothing changed), 2 unknown or unexpected. */
const changeCode: Record<ChangeOutcome, number> = {
  ok: 0,
  conflict: 1,
  refused: 1,
  unavailable: 1,
  notSent: 1,
  unknown: 2,
  unexpected: 2,
};
const kindCode = { read: 0, write: 1, cas: 2, delete: 3 } as const;

export function renderTimeline(t: TimelineInput): string {
  // A loop, not Math.max(...xs): a long run's history has more operations than the stack has room for arguments.
  let end = 1;
  for (const o of t.history) end = Math.max(end, Number.isFinite(o.ret) ? o.ret : (o.gaveUp ?? o.call));
  for (const f of t.faults) end = Math.max(end, f.healed ?? f.start);
  for (const c of t.membership?.changes ?? []) end = Math.max(end, c.end);
  const clients = [...new Set(t.history.map((o) => o.client))].sort((a, b) => a - b);
  const rowOf = new Map(clients.map((c, i) => [c, i]));
  const ops = t.history.map((o) => {
    const stop = Number.isFinite(o.ret) ? o.ret : (o.gaveUp ?? end);
    const pf = o.outcome === 'ok' && o.output?.kind === 'preconditionFailed' ? 1 : 0;
    return [
      rowOf.get(o.client)!,
      Math.round(o.call * 10) / 10,
      Math.round(stop * 10) / 10,
      outcomeCode[o.outcome],
      kindCode[o.op.f],
      pf,
      `${o.key} ${describeOp(o)}${o.note === undefined ? '' : ` ${o.note}`}`,
    ];
  });
  const data = {
    end,
    rows: clients.map((c) => t.clientNames.get(c) ?? `client ${c}`),
    ops,
    faults: t.faults.map((f) => [f.start, f.healed ?? end, f.kind, `#${f.id} ${f.description}`]),
    moves: (t.membership?.moves ?? []).map((m) => [
      m.start,
      m.back ?? end,
      `M${m.id} shard ${m.shard} ${m.from} -> ${m.to}${m.abandoned === null ? '' : ` (given up: ${m.abandoned})`}`,
    ]),
    changes: (t.membership?.changes ?? []).map((c) => [
      c.start,
      c.end,
      changeCode[c.outcome],
      `#${c.id} ${c.move === null ? c.phase : `M${c.move}`} shard ${c.shard} ${c.type} ${c.node} via ${c.via ?? '-'}: ` +
        `${c.outcome}${c.status === null ? '' : ` ${c.status}`}; ${c.after === null ? 'configuration unknown' : describeConf(c.after)}`,
    ]),
  };
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(t.title)}</title>
<style>
body { font: 13px system-ui, sans-serif; margin: 12px; color: #222; }
pre { background: #f6f6f6; padding: 8px; max-height: 30vh; overflow: auto; font-size: 12px; }
#wrap { position: relative; overflow-x: auto; border: 1px solid #ccc; }
#tip { position: fixed; pointer-events: none; background: #fff; border: 1px solid #888; padding: 3px 6px;
  font: 12px monospace; display: none; white-space: nowrap; z-index: 2; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: middle; }
</style></head><body>
<h2>${esc(t.title)}</h2>
<pre>${esc(t.summary)}</pre>
<div class="legend">
<span style="background:#9ad3a8"></span>ok read
<span style="background:#2e8b57"></span>ok write/cas/delete
<span style="background:#5bc0de"></span>412 precondition failed
<span style="background:#d9534f"></span>fail (not applied)
<span style="background:#f0ad4e"></span>info (indeterminate, drawn until the client gave up)
<span style="background:rgba(220,53,69,.25)"></span>kill
<span style="background:rgba(0,123,255,.25)"></span>pause
<span style="background:rgba(111,66,193,.25)"></span>partition
<span style="background:#6f42c1"></span>membership change done
<span style="background:#aaa"></span>refused
<span style="background:#f0ad4e"></span>unknown
&nbsp; zoom <input id="zoom" type="range" min="0" max="100" value="0">
</div>
<div id="wrap"><canvas id="c"></canvas></div>
<div id="tip"></div>
<script>
(() => {
const D = ${json};
const rowH = 14, topY = 46, left = 70;
const canvas = document.getElementById('c'), ctx = canvas.getContext('2d');
const tip = document.getElementById('tip'), zoom = document.getElementById('zoom');
const lane = D.moves.length + D.changes.length > 0 ? 1 : 0;
const byRow = D.rows.map(() => []);
D.ops.forEach((o) => byRow[o[0]].push(o));
byRow.forEach((r) => r.sort((a, b) => a[1] - b[1]));
const fill = (o) => o[3] === 1 ? '#d9534f' : o[3] === 2 ? '#f0ad4e' : o[5] ? '#5bc0de' : o[4] === 0 ? '#9ad3a8' : '#2e8b57';
const shade = { kill: 'rgba(220,53,69,.13)', pause: 'rgba(0,123,255,.13)', partition: 'rgba(111,66,193,.13)' };
let pxPerMs = 1;
function draw() {
  const fit = (document.getElementById('wrap').clientWidth - left - 10) / D.end;
  const maxScale = Math.min(30000 / D.end, 2);
  pxPerMs = fit * Math.pow(Math.max(maxScale / fit, 1), zoom.value / 100);
  const w = Math.ceil(left + D.end * pxPerMs + 10), h = topY + (lane + D.rows.length) * rowH + 20;
  canvas.width = w; canvas.height = h;
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, w, h);
  ctx.font = '11px sans-serif';
  D.faults.forEach((f, i) => {
    const x0 = left + f[0] * pxPerMs, x1 = left + f[1] * pxPerMs;
    ctx.fillStyle = shade[f[2]] || 'rgba(0,0,0,.1)';
    ctx.fillRect(x0, 14, Math.max(1, x1 - x0), h - 14);
    ctx.fillStyle = '#333';
    ctx.fillText(f[3], x0 + 2, 24 + (i % 2) * 12);
  });
  const step = [100, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000].find((s) => s * pxPerMs > 70) || 120000;
  ctx.fillStyle = '#555';
  for (let t = 0; t <= D.end; t += step) {
    const x = left + t * pxPerMs;
    ctx.fillRect(x, 0, 1, 6);
    ctx.fillText((t / 1000) + ' s', x + 2, 10);
  }
  if (lane) {
    ctx.fillStyle = '#333';
    ctx.fillText('members', 2, topY + 10);
    ctx.fillStyle = 'rgba(111,66,193,.18)';
    for (const m of D.moves) ctx.fillRect(left + m[0] * pxPerMs, topY + 1, Math.max(1, (m[1] - m[0]) * pxPerMs), rowH - 2);
    for (const c of D.changes) {
      ctx.fillStyle = c[2] === 0 ? '#6f42c1' : c[2] === 1 ? '#aaa' : '#f0ad4e';
      ctx.fillRect(left + c[0] * pxPerMs, topY + 3, Math.max(2, (c[1] - c[0]) * pxPerMs), rowH - 6);
    }
  }
  D.rows.forEach((name, r) => {
    const y = topY + (lane + r) * rowH;
    ctx.fillStyle = '#333';
    ctx.fillText(name, 2, y + 10);
    for (const o of byRow[r]) {
      ctx.fillStyle = fill(o);
      ctx.fillRect(left + o[1] * pxPerMs, y + 2, Math.max(1, (o[2] - o[1]) * pxPerMs), rowH - 4);
    }
  });
}
canvas.addEventListener('mousemove', (e) => {
  const rect = canvas.getBoundingClientRect();
  const x = e.clientX - rect.left, y = e.clientY - rect.top;
  const r = Math.floor((y - topY) / rowH) - lane, t = (x - left) / pxPerMs;
  const row = byRow[r];
  let hit = null;
  if (row) for (const o of row) { if (o[1] > t + 2 / pxPerMs) break; if (o[2] >= t - 2 / pxPerMs) hit = o; }
  const near = (a, b) => a - 2 / pxPerMs <= t && t <= b + 2 / pxPerMs;
  const changes = lane && r === -1 ? D.changes.filter((c) => near(c[0], c[1])).map((c) => c[3]) : [];
  const moves = D.moves.filter((m) => m[0] <= t && t <= m[1]).map((m) => m[2]);
  const faults = D.faults.filter((f) => f[0] <= t && t <= f[1]).map((f) => f[3]);
  const text = [hit ? hit[6] : '', ...changes, ...moves, ...faults].filter(Boolean);
  if (text.length === 0) { tip.style.display = 'none'; return; }
  tip.textContent = ''; text.forEach((s, i) => { if (i) tip.appendChild(document.createElement('br')); tip.appendChild(document.createTextNode(s)); });
  tip.style.display = 'block'; tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px';
});
canvas.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
zoom.addEventListener('input', draw);
window.addEventListener('resize', draw);
draw();
})();
</script></body></html>
`;
}
