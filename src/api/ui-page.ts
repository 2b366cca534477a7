/**
 * The dashboard page served at /ui: one self-contained HTML document (inline CSS and script, no
 * external requests, no build step) that polls /v1/ui/state once a second and draws the nodes,
 * the shards with their leaders and replicas, and the timeline of leader changes. The script is
 * plain browser JavaScript in a template literal, so it uses no template literals (nor backslashes).
 */

const style = `
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1d2330; --muted: #6b7385; --line: #e3e6ec;
  --leader: #2f6fed; --leader-bg: #e8f0ff; --ok: #1f9d55; --ok-bg: #e6f6ec;
  --bad: #d64545; --bad-bg: #fdecec; --warn: #b7791f; --warn-bg: #fdf5e6;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: var(--bg); color: var(--ink); }
header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px;
  background: var(--panel); border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0; letter-spacing: .3px; }
header .meta { color: var(--muted); font-size: 13px; }
header .live { margin-left: auto; font-size: 13px; color: var(--muted); display: flex; align-items: center; gap: 6px; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: var(--muted); display: inline-block; }
.dot.ok { background: var(--ok); } .dot.bad { background: var(--bad); }
main { padding: 18px 24px 32px; display: grid; gap: 18px; max-width: 1280px; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted);
  margin: 0 0 10px; font-weight: 600; }
.nodes { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 12px; }
.node { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.node.down { background: var(--bad-bg); border-color: #f3c4c4; }
.node .name { font-size: 17px; font-weight: 600; display: flex; align-items: center; gap: 8px; }
.node .detail { color: var(--muted); font-size: 12.5px; font-family: ui-monospace, Menlo, Consolas, monospace; }
.node .leads { margin-top: 4px; font-size: 13px; }
.pill { font-size: 11px; font-weight: 600; padding: 1px 7px; border-radius: 10px; text-transform: uppercase; letter-spacing: .4px; }
.pill.up { background: var(--ok-bg); color: var(--ok); } .pill.down { background: var(--bad); color: #fff; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600; padding: 6px 8px; border-bottom: 1px solid var(--line); }
td { padding: 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
tr:last-child td { border-bottom: none; }
.num { font-variant-numeric: tabular-nums; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
.leader-name { font-weight: 700; color: var(--leader); font-size: 15px; }
.none { color: var(--bad); font-weight: 600; }
.replica { border-radius: 6px; padding: 5px 8px; border: 1px solid var(--line); min-width: 150px; }
.replica.leader { background: var(--leader-bg); border-color: #c4d6fb; }
.replica.down { background: var(--bad-bg); border-color: #f3c4c4; color: var(--bad); }
.replica.candidate, .replica.preCandidate { background: var(--warn-bg); border-color: #f1d9a8; }
.replica .role { font-weight: 600; font-size: 12.5px; }
.replica .idx { font-size: 12px; color: var(--muted); font-family: ui-monospace, Menlo, Consolas, monospace; }
.lag { font-size: 12px; } .lag.behind { color: var(--warn); font-weight: 600; }
.spark { vertical-align: middle; }
.kind { font-size: 11px; font-weight: 600; padding: 1px 7px; border-radius: 10px; text-transform: uppercase; letter-spacing: .4px; }
.kind.failover { background: var(--bad-bg); color: var(--bad); }
.kind.transfer { background: var(--leader-bg); color: var(--leader); }
.kind.initial { background: #eef0f4; color: var(--muted); }
.window { display: flex; align-items: center; gap: 8px; }
.bar { height: 8px; border-radius: 4px; background: var(--bad); min-width: 2px; }
.bar.transfer { background: var(--leader); }
.muted { color: var(--muted); }
.empty { color: var(--muted); padding: 8px; }
`;

const script = `
(function () {
  'use strict';
  var history = {};
  var lastOk = 0;
  var $ = function (id) { return document.getElementById(id); };
  function esc(v) {
    return String(v).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function attrs(o) {
    var s = '';
    for (var k in o) if (o[k] !== null && o[k] !== undefined) s += ' ' + k + '="' + esc(o[k]) + '"';
    return s;
  }
  function clock(ms) {
    var d = new Date(ms);
    function p(n, w) { return String(n).padStart(w || 2, '0'); }
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
  }
  function ago(ms, now) {
    var s = Math.max(0, Math.round((now - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    return Math.floor(s / 3600) + ' h ago';
  }
  function secs(ms) { return ms < 1000 ? ms + ' ms' : (ms / 1000).toFixed(2) + ' s'; }
  function rate(r) { return r >= 100 ? Math.round(r) : r >= 10 ? r.toFixed(1) : r.toFixed(1); }
  function roleName(r) { return r === 'preCandidate' ? 'pre-candidate' : r; }

  function spark(points) {
    var w = 90, h = 22, max = 1;
    for (var i = 0; i < points.length; i++) max = Math.max(max, points[i]);
    var d = '';
    for (var j = 0; j < points.length; j++) {
      var x = (w * j) / 59, y = h - 2 - ((h - 4) * points[j]) / max;
      d += (j === 0 ? 'M' : 'L') + x.toFixed(1) + ' ' + y.toFixed(1);
    }
    return '<svg class="spark" width="' + w + '" height="' + h + '" viewBox="0 0 ' + w + ' ' + h + '">' +
      '<path d="' + d + '" fill="none" stroke="#2f6fed" stroke-width="1.5"/></svg>';
  }

  function renderNodes(v) {
    var table = {};
    ((v.membership && v.membership.nodes) || []).forEach(function (t) { table[t.id] = t; });
    return v.nodes.map(function (n) {
      var t = table[n.id];
      var leads = n.leads.length === 0 ? '<span class="muted">leads no shard</span>'
        : 'leads shard ' + n.leads.map(function (s) { return '<b>' + s + '</b>'; }).join(', ');
      if (t) leads += '<div class="detail" data-testid="node-counts">' + esc(t.state) + ' · ' + t.replicas +
        ' replicas · preferred leader of ' + t.leaders + '</div>';
      return '<div' + attrs({ class: 'node' + (n.up ? '' : ' down'), 'data-testid': 'node', 'data-node': n.id,
          'data-up': String(n.up) }) + '>' +
        '<div class="name">' + esc(n.id) + ' <span class="pill ' + (n.up ? 'up">up' : 'down">down') + '</span></div>' +
        '<div class="detail">' + esc(n.api) + (n.pid ? ' · pid ' + n.pid : '') + '</div>' +
        '<div class="leads">' + (n.up ? leads : '<span class="muted">' + esc(n.error || 'not answering') + '</span>') + '</div>' +
        '</div>';
    }).join('');
  }

  function renderReplica(r) {
    if (!r.up) {
      return '<div class="replica down" data-node="' + esc(r.node) + '"><div class="role">' + esc(r.node) +
        ' · down</div><div class="idx">no answer</div></div>';
    }
    var lag = r.role === 'leader' ? '' : r.lag === null ? '<span class="lag muted">lag ?</span>'
      : '<span class="lag' + (r.lag > 0 ? ' behind' : '') + '">lag ' + r.lag + '</span>';
    return '<div' + attrs({ class: 'replica ' + r.role, 'data-node': r.node, 'data-role': r.role }) + '>' +
      '<div class="role">' + esc(r.node) + ' · ' + roleName(r.role) + (r.role === 'leader' ? ' ★' : '') + '</div>' +
      '<div class="idx">term ' + r.term + ' · commit ' + r.commit + ' · applied ' + r.applied + '</div>' +
      '<div class="idx">last ' + r.lastIndex + (lag ? ' · ' : '') + lag + '</div>' +
      '</div>';
  }

  function renderShards(v) {
    var head = '<tr><th>Shard</th><th>Leader</th><th>Term</th><th>Writes/s</th><th>Reads/s</th><th>Replicas</th></tr>';
    var rows = v.shards.map(function (s) {
      var h = history[s.shard] || (history[s.shard] = []);
      return '<tr' + attrs({ 'data-testid': 'shard', 'data-shard': s.shard, 'data-leader': s.leader || '',
          'data-term': s.term }) + '>' +
        '<td class="num"><b>' + s.shard + '</b></td>' +
        '<td>' + (s.leader ? '<span class="leader-name">' + esc(s.leader) + '</span>' : '<span class="none">no leader</span>') + '</td>' +
        '<td class="num">' + (s.term === null ? '–' : s.term) + '</td>' +
        '<td class="num">' + rate(s.writesPerSec) + ' ' + spark(h) + '</td>' +
        '<td class="num">' + rate(s.readsPerSec) + '</td>' +
        '<td><div style="display:flex;gap:8px;flex-wrap:wrap">' + s.replicas.map(renderReplica).join('') + '</div></td>' +
        '</tr>';
    }).join('');
    return '<table>' + head + rows + '</table>';
  }

  function renderChanges(v) {
    if (v.leaderChanges.length === 0) return '<div class="empty">No leader changes seen yet.</div>';
    var longest = 1000;
    v.leaderChanges.forEach(function (c) { if (c.windowMs !== null) longest = Math.max(longest, c.windowMs); });
    var head = '<tr><th>When</th><th>Shard</th><th>Change</th><th>Term</th><th>Kind</th>' +
      '<th style="width:34%">Unavailable (last write before → first write after)</th><th>Measured by</th></tr>';
    var rows = v.leaderChanges.map(function (c) {
      var win;
      if (c.window === 'measured') {
        win = '<div class="window"><div class="bar' + (c.kind === 'transfer' ? ' transfer' : '') + '" style="width:' +
          Math.max(1, Math.round((160 * c.windowMs) / longest)) + 'px"></div><span class="num"><b>' + secs(c.windowMs) +
          '</b></span></div>' + '<div class="idx muted">' + clock(c.lastWriteBeforeMs) + ' → ' + clock(c.firstWriteAfterMs) + '</div>';
      } else if (c.window === 'open') {
        win = '<span class="muted">measuring… no write since ' + clock(c.lastWriteBeforeMs) + '</span>';
      } else {
        win = '<span class="muted">' + (c.kind === 'initial' ? '–' : 'no writes in flight') + '</span>';
      }
      var change = c.from ? esc(c.from) + ' → <b>' + esc(c.to) + '</b>' : 'elected <b>' + esc(c.to) + '</b>';
      return '<tr' + attrs({ 'data-testid': 'change', 'data-shard': c.shard, 'data-kind': c.kind, 'data-from': c.from || '',
          'data-to': c.to, 'data-term': c.term, 'data-window': c.window, 'data-window-ms': c.windowMs }) + '>' +
        '<td class="num">' + clock(c.electedAtMs) + '<div class="idx muted">' + ago(c.electedAtMs, v.atMs) + '</div></td>' +
        '<td class="num">' + c.shard + '</td><td>' + change + '</td><td class="num">' + c.term + '</td>' +
        '<td><span class="kind ' + c.kind + '">' + (c.kind === 'initial' ? 'elected' : c.kind) + '</span>' +
          (c.kind === 'failover' && c.detection ? ' <span class="muted" data-testid="detection">' + esc(c.detection) + '</span>' : '') + '</td>' +
        '<td>' + win + '</td><td class="muted">' + esc(c.observer) + '</td></tr>';
    }).join('');
    return '<table>' + head + rows + '</table>';
  }

  function renderMoves(v) {
    var events = ((v.membership && v.membership.events) || []).slice().reverse().slice(0, 30);
    if (events.length === 0) return '<span class="muted">no joins, moves or removals seen by the rebalancer</span>';
    return events.map(function (e) {
      var what = e.kind + (e.group === null ? '' : ' ' + (e.group === 'membership' ? 'membership group' : 'shard ' + e.group)) +
        ' · ' + esc(e.node) + (e.from ? ' (from ' + esc(e.from) + ')' : '');
      return '<div class="change" data-testid="move">' + clock(e.atMs) + ' · ' + what + ' · ' + esc(e.outcome) +
        (e.detail ? ' <span class="muted">' + esc(e.detail) + '</span>' : '') + '</div>';
    }).join('');
  }

  function render(v) {
    v.shards.forEach(function (s) {
      var h = history[s.shard] || (history[s.shard] = []);
      h.push(s.writesPerSec);
      while (h.length > 60) h.shift();
      while (h.length < 60) h.unshift(0);
    });
    $('cluster').textContent = 'cluster ' + v.clusterId + ' · ' + v.nodes.length + ' nodes · ' + v.shards.length + ' shards';
    $('nodes').innerHTML = renderNodes(v);
    $('shards').innerHTML = renderShards(v);
    $('changes').innerHTML = renderChanges(v);
    $('moves').innerHTML = renderMoves(v);
    $('served').textContent = 'served by ' + v.servedBy + ' · updated ' + clock(v.atMs);
  }

  // A cluster with API tokens: open /ui#token=TOKEN; the fragment never leaves the browser, and the
  // token is kept for this tab only.
  var headers = {};
  function takeToken() {
    var fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
    if (fromHash) { sessionStorage.setItem('raftkv-token', fromHash); window.history.replaceState(null, '', location.pathname); }
    var token = sessionStorage.getItem('raftkv-token');
    headers = token ? { authorization: 'Bearer ' + token } : {};
  }
  takeToken();
  window.addEventListener('hashchange', takeToken);

  function poll() {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, 2500);
    fetch('/v1/ui/state', { signal: ctl.signal, cache: 'no-store', headers: headers })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) throw new Error('this cluster needs an API token: open /ui#token=YOUR_TOKEN');
        if (!r.ok) throw new Error('status ' + r.status);
        return r.json();
      })
      .then(function (v) { lastOk = Date.now(); render(v); $('dot').className = 'dot ok'; })
      .catch(function (e) {
        $('dot').className = 'dot bad';
        $('served').textContent = 'this node does not answer (' + e.message + ')' +
          (lastOk ? ' · last update ' + clock(lastOk) : '');
      })
      .finally(function () { clearTimeout(timer); setTimeout(poll, 1000); });
  }
  poll();

  // Live tail of changes: GET /v1/watch as a stream (fetch, so that a token can go along), the
  // last 30 events shown newest first; on its end it resumes from the last cursor.
  var tail = { ctl: null, rows: [], cursor: null, prefix: '' };
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }
  function showTail(note) {
    $('tail-note').textContent = note;
    $('tail').innerHTML = tail.rows.length === 0 ? '' : '<table><tr><th>time</th><th>change</th><th>key</th><th>value</th><th>version</th><th>shard</th></tr>' +
      tail.rows.map(function (r) {
        return '<tr><td>' + clock(r.at) + '</td><td>' + r.type + '</td><td>' + esc(r.key) + '</td><td>' + esc(r.value) + '</td><td>' + r.version + '</td><td>' + r.shard + '</td></tr>';
      }).join('') + '</table>';
  }
  function follow() {
    var ctl = new AbortController();
    tail.ctl = ctl;
    var h = Object.assign({}, headers);
    if (tail.cursor) h['last-event-id'] = tail.cursor;
    fetch('/v1/watch?prefix=' + encodeURIComponent(tail.prefix), { signal: ctl.signal, headers: h, cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) return r.json().then(function (b) { throw new Error(b.error ? b.error.message : 'status ' + r.status); });
        showTail('following ' + tail.prefix);
        var reader = r.body.getReader();
        var decoder = new TextDecoder();
        var buf = '';
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            buf += decoder.decode(chunk.value, { stream: true });
            var end;
            while ((end = buf.indexOf('\\n\\n')) >= 0) {
              var block = buf.slice(0, end); buf = buf.slice(end + 2);
              var ev = {}; block.split('\\n').forEach(function (l) { var i = l.indexOf(': '); if (i > 0) ev[l.slice(0, i)] = l.slice(i + 2); });
              if (ev.id) tail.cursor = ev.id;
              if (ev.event === 'put' || ev.event === 'delete') {
                var d = JSON.parse(ev.data);
                var value = d.value === undefined ? '' : atob(d.value);
                tail.rows.unshift({ at: Date.now(), type: ev.event, key: d.key, value: value.length > 60 ? value.slice(0, 60) + '…' : value, version: d.version, shard: d.shard });
                tail.rows.length = Math.min(tail.rows.length, 30);
                showTail('following ' + tail.prefix);
              }
            }
            return pump();
          });
        }
        return pump();
      })
      .then(function () { if (tail.ctl === ctl) setTimeout(follow, 1000); })
      .catch(function (e) {
        if (tail.ctl !== ctl) return;
        showTail(e.message + '; trying again');
        if (/compacted|cursor/.test(e.message)) tail.cursor = null;
        setTimeout(follow, 2000);
      });
  }
  $('tail-form').addEventListener('submit', function (e) {
    e.preventDefault();
    if (tail.ctl) tail.ctl.abort();
    tail.ctl = null;
    tail.prefix = $('tail-prefix').value;
    tail.rows = [];
    tail.cursor = null;
    if (tail.prefix === '') { showTail('give a key prefix to follow'); return; }
    showTail('connecting…');
    follow();
  });
})();
`;

/** The whole page. */
export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>raftkv · cluster</title>
<link rel="icon" href="data:,">
<style>${style}</style>
</head>
<body>
<header>
  <h1>raftkv</h1>
  <span class="meta" id="cluster">loading…</span>
  <span class="live"><span class="dot" id="dot"></span><span id="served">connecting…</span></span>
</header>
<main>
  <section><h2>Nodes</h2><div class="nodes" id="nodes"></div></section>
  <section><h2>Shards</h2><div id="shards"></div></section>
  <section><h2>Leader changes</h2><div id="changes"></div></section>
  <section><h2>Joins, moves and removals</h2><div id="moves"></div></section>
  <section><h2>Changes</h2>
    <form id="tail-form"><input id="tail-prefix" placeholder="key prefix, e.g. user/" size="30"> <button>follow</button> <span class="meta" id="tail-note"></span></form>
    <div id="tail"></div>
  </section>
</main>
<script>${script}</script>
</body>
</html>
`;
