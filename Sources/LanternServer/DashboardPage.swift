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
        svg{width:100%;height:auto;display:block} .legend span{display:inline-block;margin-right:10px}
        </style></head><body>
        <header><h1>🏮 Lantern</h1>
        <label>admin token <input id="token" type="password" placeholder="lantern token --user ops --role admin"></label>
        <button id="connect">connect</button><span id="status">not connected</span></header>
        <main>
        <section><h2>Budget burn</h2><div id="budget" class="big">–</div><svg id="burn" viewBox="0 0 300 120"></svg>
          <div class="legend"><span style="color:#27ae60">■ remaining</span><span style="color:#f39c12">■ outstanding</span><span style="color:#c0392b">■ spent</span></div></section>
        <section><h2>Claims per second: served vs offered</h2><div id="rate" class="big">–</div><svg id="rates" viewBox="0 0 300 120"></svg>
          <div class="legend"><span style="color:#2c3e50">■ offered</span><span style="color:#27ae60">■ served</span></div></section>
        <section><h2>Admission and waiting room</h2><table id="admission"></table></section>
        <section><h2>Orders by state</h2><table id="orders"></table></section>
        <section><h2>Riders</h2><div id="riders" class="big">–</div><table id="drinks"></table></section>
        <section id="nodes-panel" hidden><h2>Nodes sharing the database</h2><div id="node-self"></div>
          <table id="nodes"><thead><tr><td>node</td><td>campaign</td><td class="n">lease left</td><td class="n">cards on lease</td><td class="n">claims/s</td><td class="n">renew due in</td></tr></thead><tbody></tbody></table></section>
        <section><h2>Stores (colour: minutes of work waiting; ring: paused)</h2><svg id="map" viewBox="0 0 300 300"></svg></section>
        <section><h2>Campaign controls</h2>
          <p><label>campaign <input id="campaign" value="spring-festival"></label></p>
          <p><label>fixed admission rate per minute <input id="rate-input" type="number" min="1" placeholder="empty: adaptive"></label>
          <button id="set-rate">apply</button></p>
          <p><label>cards expire at <input id="expiry" type="datetime-local"></label> <button id="extend">extend</button></p>
          <p><button id="pause">pause campaign</button> <button id="resume">resume campaign</button></p>
          <p id="control-result"></p></section>
        <section><h2>Audit log</h2><table id="audit"></table></section>
        </main>
        <script>
        const $ = id => document.getElementById(id);
        const history = []; let last = null; let source = null;
        const fmt = fen => (fen / 100).toLocaleString(undefined, {maximumFractionDigits: 0}) + ' ¥';
        $('token').value = new URLSearchParams(location.search).get('token') || localStorage.getItem('lantern-admin') || '';
        function line(svg, series, colours) {
          const max = Math.max(1, ...series.flat());
          svg.innerHTML = series.map((points, i) => {
            const step = 300 / Math.max(1, points.length - 1);
            const d = points.map((v, j) => `${j ? 'L' : 'M'}${(j * step).toFixed(1)},${(115 - v / max * 110).toFixed(1)}`).join('');
            return `<path d="${d}" fill="none" stroke="${colours[i]}" stroke-width="2"/>`;
          }).join('');
        }
        function rows(table, pairs) {
          const max = Math.max(1, ...pairs.map(p => p[1]));
          table.innerHTML = pairs.map(([k, v]) => `<tr><td>${k}</td><td class="n">${v.toLocaleString()}</td><td style="width:40%"><div class="bar" style="width:${(v / max * 100).toFixed(1)}%"></div></td></tr>`).join('');
        }
        function draw(s) {
          const c = s.campaigns[0];
          if (c) {
            $('budget').textContent = `${c.paused ? 'PAUSED · ' : ''}${fmt(c.spent_fen)} spent · ${fmt(c.outstanding_fen)} on cards · ${fmt(c.remaining_fen)} left`;
          }
          const offered = s.admission.admitted + s.admission.queued + s.admission.rate_limited;
          const point = {t: Date.parse(s.at), c, served: s.admission.admitted, offered};
          if (last) {
            const dt = Math.max(0.001, (point.t - last.t) / 1000);
            point.servedRate = (point.served - last.served) / dt; point.offeredRate = (point.offered - last.offered) / dt;
            $('rate').textContent = `${point.servedRate.toFixed(0)} served / ${point.offeredRate.toFixed(0)} offered`;
          }
          last = point; history.push(point); if (history.length > 120) history.shift();
          if (c) line($('burn'), [history.map(p => p.c ? p.c.remaining_fen : 0), history.map(p => p.c ? p.c.outstanding_fen : 0), history.map(p => p.c ? p.c.spent_fen : 0)], ['#27ae60', '#f39c12', '#c0392b']);
          line($('rates'), [history.map(p => p.offeredRate || 0), history.map(p => p.servedRate || 0)], ['#2c3e50', '#27ae60']);
          rows($('admission'), [['admitted', s.admission.admitted], ['queued', s.admission.queued], ['rate-limited', s.admission.rate_limited],
            ['waiting now', s.campaigns.reduce((n, c) => n + c.waiting, 0)], ['current wait, s', Math.max(0, ...s.campaigns.map(c => c.wait_s))], ['concurrency limit', Math.round(s.admission.limit)], ['in flight', s.admission.in_flight]]);
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
        const escape = text => String(text).replace(/[&<>"]/g, ch => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'})[ch]);
        async function audit() {
          const r = await fetch('/v1/admin/audit?limit=10', {headers: {'Authorization': 'Bearer ' + $('token').value.trim()}});
          if (!r.ok) return;
          $('audit').innerHTML = (await r.json()).entries.map(e => `<tr><td>${escape(new Date(e.at).toLocaleString())}</td><td>${escape(e.actor)}</td><td>${escape(e.action)}</td><td>${escape(e.target)}</td><td>${escape(JSON.stringify(e.detail))}</td></tr>`).join('');
        }
        setInterval(() => { if (source) audit(); }, 10000);
        function connect() {
          const token = $('token').value.trim(); localStorage.setItem('lantern-admin', token);
          audit();
          if (source) source.close();
          source = new EventSource('/admin/stream?access_token=' + encodeURIComponent(token));
          source.addEventListener('stats', e => { $('status').textContent = 'live · ' + new Date().toLocaleTimeString(); draw(JSON.parse(e.data)); });
          source.onerror = () => { $('status').textContent = 'disconnected (is the token an admin token?) · retrying'; };
        }
        async function control(method, path, body, question) {
          if (!confirm(question)) return;
          const r = await fetch(path, {method, headers: {'Authorization': 'Bearer ' + $('token').value.trim(), 'Content-Type': 'application/json'}, body: JSON.stringify(body)});
          $('control-result').textContent = `${r.status}: ${await r.text()}`;
          audit();
        }
        $('connect').onclick = connect;
        $('set-rate').onclick = () => { const v = $('rate-input').value; const rate = v ? Number(v) : null;
          control('PUT', `/v1/campaigns/${$('campaign').value}/admission`, {rate_per_minute: rate}, rate ? `Admit ${rate} users a minute to ${$('campaign').value}?` : 'Return to adaptive admission?'); };
        $('extend').onclick = () => { const at = new Date($('expiry').value); if (isNaN(at)) return;
          control('PATCH', `/v1/campaigns/${$('campaign').value}`, {cards_expire_at: at.toISOString().replace(/\.\d+Z$/, 'Z')}, `Extend card expiry of ${$('campaign').value} to ${at.toISOString()}?`); };
        $('pause').onclick = () => control('POST', `/v1/campaigns/${$('campaign').value}/pause`, {}, `Pause ${$('campaign').value}? New claims are refused and the waiting room stands still until you resume.`);
        $('resume').onclick = () => control('POST', `/v1/campaigns/${$('campaign').value}/resume`, {}, `Resume ${$('campaign').value}?`);
        if ($('token').value) connect();
        </script></body></html>
        """#
}
