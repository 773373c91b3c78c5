/// The customer page, served at `/chat`: the assistant, the card wallet with the waiting room,
/// and order tracking. Phone-sized, Chinese and English, nothing fetched from elsewhere.
enum ChatPage {
    static let html = #"""
        <!doctype html>
        <html lang="zh"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>Lantern · 点单 order</title>
        <style>
        body{font:15px system-ui,sans-serif;margin:0;background:#fbf7f0;color:#222;max-width:520px;margin:auto}
        header{background:#7a1f1f;color:#fff;padding:10px 12px} header h1{font-size:17px;margin:0 0 6px}
        header input{width:100%;box-sizing:border-box}
        section{background:#fff;margin:8px;border-radius:10px;padding:10px;box-shadow:0 1px 2px #0002}
        h2{font-size:14px;margin:0 0 6px;color:#7a1f1f}
        #log{height:300px;overflow-y:auto;display:flex;flex-direction:column;gap:6px}
        .me{align-self:flex-end;background:#7a1f1f;color:#fff;border-radius:12px 12px 2px 12px;padding:6px 10px;max-width:80%}
        .bot{align-self:flex-start;background:#f1ece2;border-radius:12px 12px 12px 2px;padding:6px 10px;max-width:85%;white-space:pre-wrap}
        #chips button{margin:4px 4px 0 0;border:1px solid #7a1f1f;background:#fff;color:#7a1f1f;border-radius:14px;padding:3px 10px}
        form{display:flex;gap:6px;margin-top:8px} form input{flex:1;padding:8px} button{padding:6px 10px}
        ol.timeline{list-style:none;padding:0;margin:0} ol.timeline li{padding:2px 0 2px 18px;position:relative;color:#999}
        ol.timeline li.done{color:#222} ol.timeline li.done:before{content:"●";position:absolute;left:0;color:#27ae60}
        ol.timeline li:before{content:"○";position:absolute;left:0}
        .queue{font-size:18px;font-weight:600}
        </style></head><body>
        <header><h1>🏮 Lantern · 一句话点奶茶 / order in one sentence</h1>
        <input id="token" type="password" placeholder="token: lantern token --user YOU"></header>
        <section><h2>助手 Assistant</h2><div id="log"></div><div id="chips"></div>
          <form id="ask"><input id="text" placeholder="帮我点杯少糖的珍珠奶茶 / a large taro milk tea, less ice" autocomplete="off"><button>发送 send</button></form></section>
        <section><h2>免单卡 Cards</h2><div id="cards">–</div>
          <p><label>campaign <input id="campaign" value="spring-festival" size="16"></label> <button id="claim">领卡 claim</button></p>
          <div id="queue"></div></section>
        <section><h2>订单 Orders</h2><div id="orders">–</div></section>
        <script>
        const $ = id => document.getElementById(id);
        const STATES = ['placed', 'accepted', 'ready', 'picked_up', 'delivered'];
        const NAMES = {placed: '已下单 placed', accepted: '制作中 accepted', ready: '已做好 ready', picked_up: '配送中 on the way', delivered: '已送达 delivered', rejected: '商家拒单 rejected', cancelled: '已取消 cancelled'};
        let session = null; let location0 = {lat: 31.2304, lng: 121.4737};
        $('token').value = new URLSearchParams(location.search).get('token') || localStorage.getItem('lantern-user') || '';
        $('token').onchange = () => { localStorage.setItem('lantern-user', $('token').value.trim()); refresh(); };
        if (navigator.geolocation) navigator.geolocation.getCurrentPosition(p => { location0 = {lat: p.coords.latitude, lng: p.coords.longitude}; }, () => {});
        const auth = extra => Object.assign({'Authorization': 'Bearer ' + $('token').value.trim(), 'Content-Type': 'application/json'}, extra || {});
        const fen = f => (f / 100).toFixed(2) + ' 元';
        function say(cls, text) { const d = document.createElement('div'); d.className = cls; d.textContent = text; $('log').appendChild(d); $('log').scrollTop = 1e9; }
        async function send(text) {
          say('me', text); $('chips').innerHTML = '';
          const body = {text, location: location0}; if (session) body.session_id = session;
          const r = await fetch('/v1/assistant/messages', {method: 'POST', headers: auth(), body: JSON.stringify(body)});
          const j = await r.json();
          if (!r.ok) { say('bot', (j.error && j.error.message) || r.status); return; }
          session = j.session_id; say('bot', j.reply);
          for (const s of j.suggestions || []) { const b = document.createElement('button'); b.textContent = s; b.onclick = () => send(s); $('chips').appendChild(b); }
          if (j.order) refresh();
        }
        $('ask').onsubmit = e => { e.preventDefault(); const t = $('text').value.trim(); if (t) { $('text').value = ''; send(t); } };
        async function refresh() {
          if (!$('token').value.trim()) return;
          const cards = await (await fetch('/v1/me/cards', {headers: auth()})).json();
          $('cards').innerHTML = (cards.cards || []).map(c => `<div>${c.kind === 'welcome' ? '🎁' : '🤝'} ${fen(c.value_fen)} · ${c.state} · 到期 ${c.expires_at.slice(0, 10)}</div>`).join('') || '还没有卡 no cards yet';
          const orders = await (await fetch('/v1/me/orders', {headers: auth()})).json();
          $('orders').innerHTML = (orders.orders || []).slice(0, 5).map(o => {
            const at = STATES.indexOf(o.state);
            const steps = ['rejected', 'cancelled'].includes(o.state) ? `<li class="done">${NAMES[o.state]}</li>` : STATES.map((s, i) => `<li class="${i <= at ? 'done' : ''}">${NAMES[s]}</li>`).join('');
            const eta = o.estimated_delivery_at || o.promised_at;
            return `<div class="order" data-id="${o.id}"><b>${o.items.map(i => i.quantity + '× ' + i.drink).join(', ')}</b> · 实付 ${fen(o.total_fen)} · 预计 ETA ${new Date(eta).toLocaleTimeString()}<ol class="timeline">${steps}</ol></div>`;
          }).join('') || '还没有订单 no orders yet';
        }
        // A botted campaign's ticket comes with a puzzle: a nonce whose SHA-256 with the ticket
        // starts with that many zero bits. A second or so for a person; a lot for ten thousand places.
        async function solve(p) {
          const encoder = new TextEncoder();
          for (let n = 0; ; n++) {
            const d = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(p.challenge + ':' + n)));
            let bits = 0;
            for (const b of d) { if (b === 0) { bits += 8; continue; } bits += Math.clz32(b) - 24; break; }
            if (bits >= p.bits) return String(n);
          }
        }
        async function claim(ticket, proof) {
          const headers = auth({'Idempotency-Key': 'claim-' + $('campaign').value});
          if (ticket) headers['Queue-Ticket'] = ticket;
          if (proof) headers['Queue-Proof'] = proof;
          const r = await fetch(`/v1/campaigns/${$('campaign').value}/claims`, {method: 'POST', headers, body: '{}'});
          const j = await r.json();
          if (r.status === 202) {
            if (j.puzzle) { $('queue').textContent = '正在验证 checking you are a person…'; j.proof = await solve(j.puzzle); }
            return wait(j);
          }
          $('queue').textContent = r.ok ? '领到了！ claimed' : ((j.error && j.error.message) || r.status);
          refresh();
        }
        async function wait(q) {
          // An honest number, counting down; retried automatically once admitted.
          let left = q.estimated_wait_s;
          const tick = setInterval(() => { left = Math.max(0, left - 1); $('queue').innerHTML = `<div class="queue">排队中 in line: 第 ${q.position} 位 · 约 ${Math.ceil(left)} 秒</div>`; }, 1000);
          while (true) {
            await new Promise(done => setTimeout(done, Math.max(1, q.poll_after_s || 2) * 1000));
            const r = await fetch('/v1/queue/' + encodeURIComponent(q.ticket), {headers: auth(q.proof ? {'Queue-Proof': q.proof} : {})});
            const s = await r.json();
            if (!r.ok) { clearInterval(tick); $('queue').textContent = (s.error && s.error.message) || r.status; return; }
            // Admitted: claim with the ticket. Passed over (this tab slept): claim again, at the back.
            if (s.admitted) { clearInterval(tick); return claim(q.ticket, q.proof); }
            if (s.skipped) { clearInterval(tick); return claim(null); }
            q = Object.assign(q, s); left = s.estimated_wait_s;
          }
        }
        $('claim').onclick = () => claim(null);
        refresh(); setInterval(refresh, 3000);
        say('bot', '想喝点什么？ What would you like? 例如 e.g. “帮我点两杯大杯珍珠奶茶，少糖去冰”');
        </script></body></html>
        """#
}
