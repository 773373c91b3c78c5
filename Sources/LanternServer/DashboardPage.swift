/// The operator dashboard, served at `/`: plain HTML, CSS and SVG drawn by a little script,
/// fed by `/admin/stream` once a second. No CDN, nothing fetched from elsewhere.
enum DashboardPage {
    static let html = #"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>Lantern · operators</title>
        <style>
        body{font:14px system-ui,sans-serif;margin:0;background:#f6f4ef;color:#222}
        header{background:#7a1f1f;color:#fff;padding:10px 16px;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
        header h1{font-size:18px;margin:0 12px 0 0} header input{width:280px}
        main{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px;padding:12px}
        section{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0002}
        h2{font-size:14px;margin:0 0 8px;color:#7a1f1f} .big{font-size:22px;font-weight:600}
        table{width:100%;border-collapse:collapse} td{padding:2px 4px} td.n{text-align:right;font-variant-numeric:tabular-nums}
        .bar{height:10px;background:#c0392b;border-radius:3px} #status{font-size:12px;opacity:.85}
        svg{width:100%;height:auto;display:block} .legend span{display:inline-block;margin-right:10px} #routes{font-size:12px}
        </style></head><body>
        <header><h1>🏮 Lantern</h1>
        <label>admin token <input id="token" type="password" placeholder="lantern token --user ops --role admin"></label>
        <button id="connect">connect</button>
        <label>campaign <select id="campaign"></select></label>
        <label>show <select id="span"><option value="second">the last hour, by second</option><option value="minute">the last week, by minute</option></select></label>
        <span id="status">not connected</span></header>
        <main>
        <section><h2>Budget</h2><div id="budget" class="big">–</div><div id="budget-detail"></div><svg id="burn" viewBox="0 0 320 140"></svg>
          <div class="legend"><span style="color:#f39c12">■ on cards, not yet spent</span><span style="color:#c0392b">■ spent on delivered orders</span></div></section>
        <section><h2>Claims per second: served vs offered</h2><div id="rate" class="big">–</div><svg id="rates" viewBox="0 0 320 140"></svg>
          <div class="legend"><span style="color:#2c3e50">■ offered</span><span style="color:#27ae60">■ served</span></div></section>
        <section><h2>Waiting room</h2><div id="queue" class="big">–</div><svg id="queue-chart" viewBox="0 0 320 140"></svg>
          <div class="legend"><span style="color:#8e44ad">■ people waiting</span><span style="color:#16a085">■ wait for a newcomer, s</span></div>
          <table id="admission"></table></section>
        <section><h2>Latency and errors</h2><div id="latency" class="big">–</div><svg id="latency-chart" viewBox="0 0 320 140"></svg>
          <div class="legend"><span style="color:#2980b9">■ p50 ms</span><span style="color:#c0392b">■ p99 ms</span></div>
          <table id="routes"><thead><tr><td>last minute</td><td class="n">req/s</td><td class="n">p50</td><td class="n">p99</td><td class="n">4xx</td><td class="n">5xx</td></tr></thead><tbody></tbody></table></section>
        <section><h2>Orders by state</h2><table id="orders"></table></section>
        <section><h2>Riders</h2><div id="riders" class="big">–</div><svg id="riders-chart" viewBox="0 0 320 140"></svg>
          <div class="legend"><span style="color:#d35400">■ riders busy</span></div></section>
        <section><h2>Top drinks (cups)</h2><table id="drinks"></table></section>
        <section id="nodes-panel" hidden><h2>Nodes sharing the database</h2><div id="node-self"></div>
          <table id="nodes"><thead><tr><td>node</td><td>campaign</td><td class="n">lease left</td><td class="n">cards on lease</td><td class="n">claims/s</td><td class="n">renew due in</td></tr></thead><tbody></tbody></table></section>
        <section><h2>Stores</h2><svg id="map" viewBox="0 0 300 300"></svg>
          <div class="legend"><span style="color:#27ae60">● under 10 min of work</span><span style="color:#f39c12">● 10–20 min</span><span style="color:#c0392b">● 20 min or more</span><span>◯ ringed: paused</span></div></section>
        <section><h2>Campaign controls</h2>
          <p><label>fixed admission rate per minute <input id="rate-input" type="number" min="1" placeholder="empty: adaptive"></label>
          <button id="set-rate">apply</button></p>
          <p><label>cards expire at <input id="expiry" type="datetime-local"></label> <button id="extend">extend</button></p>
          <p><button id="pause">pause campaign</button> <button id="resume">resume campaign</button></p>
          <p id="control-result"></p></section>
        <section><h2>Audit log</h2><table id="audit"></table></section>
        </main>
        <script>
        const $ = id => document.getElementById(id);
        let points = [];       // the node's history: one point a second (or a minute), oldest first
        let latest = null; let source = null; let span = 'second';
        const fmt = fen => (fen / 100).toLocaleString(undefined, {maximumFractionDigits: 0}) + ' ¥';
        const num = v => v >= 1e6 ? (v / 1e6).toFixed(1) + 'M' : v >= 1e4 ? (v / 1e3).toFixed(0) + 'k' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
        const clock = ms => new Date(ms).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: span === 'second' ? '2-digit' : undefined});
        const auth = extra => Object.assign({'Authorization': 'Bearer ' + $('token').value.trim()}, extra || {});
        $('token').value = new URLSearchParams(location.search).get('token') || localStorage.getItem('lantern-admin') || '';
        // A line chart with a value axis (0, half, peak), the time span under it and each series' peak.
        function chart(svg, times, series, colours, unit) {
          const peak = Math.max(0, ...series.flat().filter(Number.isFinite));
          const top = peak > 0 ? peak : 1;
          const x = i => 40 + i / Math.max(1, times.length - 1) * 275, y = v => 120 - v / top * 110;
          let out = [0, 0.5, 1].map(f => `<line x1="40" x2="315" y1="${y(f * top)}" y2="${y(f * top)}" stroke="#ddd"/><text x="36" y="${y(f * top) + 3}" font-size="9" text-anchor="end">${num(f * top)}</text>`).join('');
          if (times.length) out += `<text x="40" y="135" font-size="9">${clock(times[0])}</text><text x="315" y="135" font-size="9" text-anchor="end">${clock(times[times.length - 1])}</text>`;
          out += series.map((values, i) => {
            const d = values.map((v, j) => `${j ? 'L' : 'M'}${x(j).toFixed(1)},${y(Number.isFinite(v) ? v : 0).toFixed(1)}`).join('');
            return `<path d="${d}" fill="none" stroke="${colours[i]}" stroke-width="1.5"/>`;
          }).join('');
          out += `<text x="315" y="9" font-size="9" text-anchor="end">peak ${series.map((v, i) => `<tspan fill="${colours[i]}">${num(Math.max(0, ...v.filter(Number.isFinite)))}</tspan>`).join(' · ')} ${unit}</text>`;
          svg.innerHTML = out;
        }
        function rows(table, pairs) {
          const max = Math.max(1, ...pairs.map(p => p[1]));
          table.innerHTML = pairs.map(([k, v]) => `<tr><td>${escape(k)}</td><td class="n">${v.toLocaleString()}</td><td style="width:40%"><div class="bar" style="width:${(v / max * 100).toFixed(1)}%"></div></td></tr>`).join('');
        }
        const chosen = () => $('campaign').value;
        const campaignOf = p => (p.campaigns || []).find(c => c.id === chosen());
        function rate(key) {  // per-second rate of a cumulative counter between consecutive points
          return points.map((p, i) => i ? Math.max(0, (p[key] - points[i - 1][key]) / Math.max(0.001, (p.at_ms - points[i - 1].at_ms) / 1000)) : 0);
        }
        function drawHistory() {
          const times = points.map(p => p.at_ms);
          // What the budget bought, on its own scale: beside a large budget, remaining would flatten it.
          chart($('burn'), times, [points.map(p => (campaignOf(p) || {}).outstanding_fen / 100), points.map(p => (campaignOf(p) || {}).spent_fen / 100)], ['#f39c12', '#c0392b'], '¥');
          const served = rate('admitted'), queued = rate('queued'), limited = rate('rate_limited');
          const offered = served.map((v, i) => v + queued[i] + limited[i]);
          chart($('rates'), times, [offered, served], ['#2c3e50', '#27ae60'], '/s');
          chart($('queue-chart'), times, [points.map(p => (campaignOf(p) || {}).waiting), points.map(p => (campaignOf(p) || {}).wait_s)], ['#8e44ad', '#16a085'], '');
          chart($('latency-chart'), times, [points.map(p => p.p50_ms), points.map(p => p.p99_ms)], ['#2980b9', '#c0392b'], 'ms');
          chart($('riders-chart'), times, [points.map(p => p.riders_busy)], ['#d35400'], '');
          // Budget used and when it runs out at the rate of the last minute of points.
          const now = points[points.length - 1], c = now && campaignOf(now);
          if (c) {
            const used = (c.spent_fen + c.outstanding_fen) / Math.max(1, c.budget_fen);
            const back = points.filter(p => p.at_ms >= now.at_ms - 60000).map(campaignOf).filter(Boolean)[0];
            const seconds = (now.at_ms - points.filter(p => p.at_ms >= now.at_ms - 60000)[0].at_ms) / 1000;
            const perSecond = back && seconds > 0 ? (back.remaining_fen - c.remaining_fen) / seconds : 0;
            const end = perSecond > 0 ? new Date(now.at_ms + c.remaining_fen / perSecond * 1000) : null;
            $('budget-detail').textContent = `${(used * 100).toFixed(used < 0.01 ? 3 : 1)} % of ${fmt(c.budget_fen)} used · ` + (end ? `at ${fmt(perSecond * 60)} a minute it runs out ${end.toLocaleString()}` : 'not being spent now');
          }
          // Routes over the last minute.
          const recent = points.filter(p => now && p.at_ms > now.at_ms - 60000);
          const seconds = Math.max(1, recent.length && span === 'second' ? recent.length : 60);
          const byRoute = {};
          for (const p of recent) for (const r of p.routes || []) {
            const t = byRoute[r.route] || (byRoute[r.route] = {requests: 0, client: 0, server: 0, p50: [], p99: 0});
            t.requests += r.requests; t.client += r.client_errors; t.server += r.server_errors; t.p50.push(r.p50_ms || 0); t.p99 = Math.max(t.p99, r.p99_ms || 0);
          }
          $('routes').tBodies[0].innerHTML = Object.entries(byRoute).sort((a, b) => b[1].requests - a[1].requests).slice(0, 8).map(([route, t]) =>
            `<tr><td>${escape(route)}</td><td class="n">${num(t.requests / seconds)}</td><td class="n">${num(t.p50.sort((a, b) => a - b)[t.p50.length >> 1])} ms</td><td class="n">${num(t.p99)} ms</td><td class="n">${(100 * t.client / t.requests).toFixed(1)} %</td><td class="n">${(100 * t.server / t.requests).toFixed(1)} %</td></tr>`).join('');
          if (now) $('latency').textContent = now.p99_ms ? `p50 ${num(now.p50_ms)} ms · p99 ${num(now.p99_ms)} ms` : 'no requests this second';
        }
        function draw(s) {
          latest = s;
          const options = s.campaigns.map(c => c.id);
          if ([...$('campaign').options].map(o => o.value).join() !== options.join()) {
            // Keep the operator's choice; at first, the campaign with the most cards (or ?campaign=).
            const busiest = s.campaigns.reduce((a, b) => (b.cards_issued > a.cards_issued ? b : a), s.campaigns[0] || {}).id;
            const keep = chosen() || new URLSearchParams(location.search).get('campaign') || busiest;
            $('campaign').innerHTML = options.map(id => `<option>${escape(id)}</option>`).join('');
            if (options.includes(keep)) $('campaign').value = keep;
          }
          const c = s.campaigns.find(x => x.id === chosen());
          if (c) $('budget').textContent = `${c.paused ? 'PAUSED · ' : ''}${fmt(c.spent_fen)} spent · ${fmt(c.outstanding_fen)} on cards · ${fmt(c.remaining_fen)} left`;
          if (c) $('queue').textContent = `${c.waiting.toLocaleString()} waiting · a newcomer waits ${c.wait_s} s`;
          const served = rate('admitted'), last = served.length ? served[served.length - 1] : 0;
          $('rate').textContent = `${num(last)} served a second`;
          // Totals since the node started, apart from the live gauges: they are not on one scale.
          $('admission').innerHTML = [['admitted', s.admission.admitted], ['sent to the waiting room', s.admission.queued],
            ['rate-limited', s.admission.rate_limited], ['concurrency limit now', Math.round(s.admission.limit)], ['claims in flight now', s.admission.in_flight]]
            .map(([k, v]) => `<tr><td>${k}</td><td class="n">${v.toLocaleString()}</td></tr>`).join('');
          rows($('orders'), Object.entries(s.orders));
          $('riders').textContent = `${s.riders.busy} of ${s.riders.total} riders busy · ${s.riders.orders_waiting} orders waiting for one`;
          rows($('drinks'), s.top_drinks.map(d => [d.drink, d.cups]));
          if (s.nodes) {
            $('nodes-panel').hidden = false;
            $('node-self').textContent = `this page is served by ${s.node}`;
            $('nodes').tBodies[0].innerHTML = s.nodes.map(n => `<tr><td>${escape(n.node)}</td><td>${escape(n.campaign)}</td><td class="n">${fmt(n.allowance_fen)}</td><td class="n">${n.cards.toLocaleString()}</td><td class="n">${(n.claim_rate_fen / Math.max(1, (s.campaigns.find(c => c.id === n.campaign) || {}).card_value_fen || 1)).toFixed(0)}</td><td class="n">${n.expires_in_s < 0 ? 'lapsed' : n.expires_in_s.toFixed(1) + ' s'}</td></tr>`).join('');
          }
          const lats = s.stores.map(x => x.lat), lngs = s.stores.map(x => x.lng);
          const [a, b, c2, d] = [Math.min(...lats), Math.max(...lats), Math.min(...lngs), Math.max(...lngs)];
          $('map').innerHTML = s.stores.map(x => {
            const cx = (x.lng - c2) / Math.max(1e-9, d - c2) * 290 + 5, cy = 295 - (x.lat - a) / Math.max(1e-9, b - a) * 290;
            const colour = x.backlog_minutes >= 20 ? '#c0392b' : x.backlog_minutes >= 10 ? '#f39c12' : '#27ae60';
            return `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${x.paused ? 4 : 2.5}" fill="${colour}" stroke="${x.paused ? '#000' : 'none'}"><title>${x.id}: ${x.backlog_minutes} min${x.paused ? ', paused' : ''}</title></circle>`;
          }).join('');
        }
        async function loadHistory(all) {
          const since = all || !points.length ? 0 : points[points.length - 1].at_ms + 1;
          const r = await fetch(`/v1/admin/history?resolution=${span}&since_ms=${since}`, {headers: auth()});
          if (!r.ok) return;
          const fresh = (await r.json()).points;
          points = all ? fresh : points.concat(fresh);
          if (points.length > 10080) points = points.slice(-10080);
          drawHistory();
        }
        const escape = text => String(text).replace(/[&<>"]/g, ch => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'})[ch]);
        async function audit() {
          const r = await fetch('/v1/admin/audit?limit=10', {headers: {'Authorization': 'Bearer ' + $('token').value.trim()}});
          if (!r.ok) return;
          $('audit').innerHTML = (await r.json()).entries.map(e => `<tr><td>${escape(new Date(e.at).toLocaleString())}</td><td>${escape(e.actor)}</td><td>${escape(e.action)}</td><td>${escape(e.target)}</td><td>${escape(JSON.stringify(e.detail))}</td></tr>`).join('');
        }
        setInterval(() => { if (source) audit(); }, 10000);
        setInterval(() => { if (source) loadHistory(false); }, 2000);
        $('span').onchange = () => { span = $('span').value; loadHistory(true); };
        $('campaign').onchange = () => { if (latest) draw(latest); drawHistory(); };
        function connect() {
          const token = $('token').value.trim(); localStorage.setItem('lantern-admin', token);
          audit(); loadHistory(true);
          if (source) source.close();
          source = new EventSource('/admin/stream?access_token=' + encodeURIComponent(token));
          source.addEventListener('stats', e => { $('status').textContent = 'live · ' + new Date().toLocaleTimeString(); draw(JSON.parse(e.data)); });
          source.onerror = () => { $('status').textContent = 'disconnected (is the token an admin token?) · retrying'; };
        }
        async function control(method, path, body, question) {
          if (!confirm(question)) return;
          const r = await fetch(path, {method, headers: auth({'Content-Type': 'application/json'}), body: JSON.stringify(body)});
          const j = await r.json().catch(() => ({}));
          $('control-result').textContent = r.ok
            ? `done: ${j.id || j.campaign || chosen()}${j.mode ? ' · admission ' + j.mode + (j.rate_per_minute ? ', ' + j.rate_per_minute + ' a minute' : '') : ''}${j.paused !== undefined ? (j.paused ? ' · paused' : ' · running') : ''}${j.cards_expire_at ? ' · cards expire ' + new Date(j.cards_expire_at).toLocaleString() : ''}`
            : `refused (${r.status}): ${(j.error && j.error.message) || 'no reason given'}`;
          audit();
        }
        $('connect').onclick = connect;
        $('set-rate').onclick = () => { const v = $('rate-input').value; const rate = v ? Number(v) : null;
          control('PUT', `/v1/campaigns/${chosen()}/admission`, {rate_per_minute: rate}, rate ? `Admit ${rate} users a minute to ${chosen()}?` : 'Return to adaptive admission?'); };
        $('extend').onclick = () => { const at = new Date($('expiry').value); if (isNaN(at)) return;
          control('PATCH', `/v1/campaigns/${chosen()}`, {cards_expire_at: at.toISOString().replace(/\.\d+Z$/, 'Z')}, `Extend card expiry of ${chosen()} to ${at.toISOString()}?`); };
        $('pause').onclick = () => control('POST', `/v1/campaigns/${chosen()}/pause`, {}, `Pause ${chosen()}? New claims are refused and the waiting room stands still until you resume.`);
        $('resume').onclick = () => control('POST', `/v1/campaigns/${chosen()}/resume`, {}, `Resume ${chosen()}?`);
        if ($('token').value) connect();
        </script></body></html>
        """#
}
