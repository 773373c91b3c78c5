/// The counter's page, served at `/merchant`, for a tablet at the store: the live queue of the
/// store's orders (from the merchant event stream, no reloads), accept, ready and reject with a
/// reason, the backlog against the 30-minute limit, pause and resume, and stock toggles for every
/// drink and topping of the menu. Chinese and English, signed in with a merchant token, nothing
/// fetched from elsewhere.
enum MerchantPage {
    static let html = #"""
        <!doctype html>
        <html lang="zh"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>Lantern · 门店 counter</title>
        <style>
        body{font:15px system-ui,sans-serif;margin:0;background:#f4f1ea;color:#222}
        header{background:#1f4f7a;color:#fff;padding:10px 14px;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
        header h1{font-size:18px;margin:0;flex:1} header input{width:260px}
        main{display:grid;grid-template-columns:2fr 1fr;gap:10px;padding:10px}
        section{background:#fff;border-radius:10px;padding:10px;box-shadow:0 1px 2px #0002}
        h2{font-size:15px;margin:0 0 8px;color:#1f4f7a}
        .order{border:1px solid #ddd;border-radius:8px;padding:8px;margin-bottom:8px}
        .order.fresh{animation:flash 1.5s ease-in-out 3;border-color:#e67e22}
        @keyframes flash{50%{background:#fdebd0}}
        .order h3{margin:0 0 4px;font-size:15px} .order .meta{color:#666;font-size:13px}
        .order ul{margin:4px 0;padding-left:18px} .state{font-weight:600}
        .state.placed{color:#e67e22} .state.accepted{color:#2980b9} .state.ready{color:#27ae60}
        .done{opacity:.55}
        button{padding:6px 12px;margin:4px 6px 0 0;font-size:15px}
        .bar{height:14px;background:#eee;border-radius:7px;overflow:hidden} .bar div{height:100%;background:#27ae60}
        .bar.warn div{background:#e67e22} .bar.full div{background:#c0392b}
        label.stock{display:inline-block;width:48%;font-size:14px;margin:2px 0}
        </style></head><body>
        <header><h1>🏮 Lantern · 门店接单台 / counter</h1><span id="store">–</span>
          <input id="token" type="password" placeholder="token: lantern token --user S --role merchant --merchant m-000001"></header>
        <main>
        <section><h2>订单 Orders <span id="live">○</span></h2><p id="error" style="color:#c0392b"></p><div id="orders">–</div></section>
        <div>
        <section><h2>门店 Store</h2><div id="status">–</div>
          <p><button id="pause">暂停接单 pause</button><button id="resume">恢复接单 resume</button></p></section>
        <section style="margin-top:10px"><h2>库存 Stock</h2><div id="stock">–</div></section>
        </div>
        </main>
        <script>
        const $ = id => document.getElementById(id);
        const STATE = {placed: '新订单 new', accepted: '制作中 making', ready: '已做好 ready', picked_up: '已取走 picked up',
          delivered: '已送达 delivered', rejected: '已拒单 rejected', cancelled: '已取消 cancelled'};
        const REASONS = {out_of_stock: '缺货 out of stock', too_busy: '太忙 too busy', closing: '打烊 closing', other: '其他 other'};
        const ACTIVE = ['placed', 'accepted', 'ready'];
        const orders = new Map(); let names = {}; let stream = null;
        $('token').value = new URLSearchParams(location.search).get('token') || localStorage.getItem('lantern-merchant') || '';
        $('token').onchange = () => { localStorage.setItem('lantern-merchant', $('token').value.trim()); start(); };
        const auth = () => ({'Authorization': 'Bearer ' + $('token').value.trim(), 'Content-Type': 'application/json'});
        const call = async (method, path, body) => {
          const r = await fetch(path, {method, headers: auth(), body: body ? JSON.stringify(body) : undefined});
          const j = await r.json().catch(() => ({}));
          $('error').textContent = r.ok ? '' : ((j.error && j.error.message) || ('HTTP ' + r.status));
          return r.ok ? j : null;
        };
        function beep() {
          try { const a = new AudioContext(); const o = a.createOscillator(); o.frequency.value = 880; o.connect(a.destination);
            o.start(); o.stop(a.currentTime + 0.25); } catch (e) {}
        }
        const clock = t => new Date(t).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
        function line(i) {
          const name = names[i.drink] ? names[i.drink] + ' ' + i.drink : i.drink;
          const opts = [i.size, i.sugar + '% sugar', i.ice].concat(i.toppings.map(t => '+' + (names[t] || t))).join(', ');
          return `<li>${i.quantity} × ${name} <span class="meta">(${opts})</span></li>`;
        }
        function card(o, fresh) {
          const acts = [];
          if (o.state === 'placed') acts.push(`<button data-act="accept" data-id="${o.id}">接单 accept</button>`);
          if (o.state === 'accepted') acts.push(`<button data-act="ready" data-id="${o.id}">做好了 ready</button>`);
          if (o.state === 'placed' || o.state === 'accepted') acts.push(`<select id="why-${o.id}">` +
            Object.entries(REASONS).map(([k, v]) => `<option value="${k}">${v}</option>`).join('') +
            `</select><button data-act="reject" data-id="${o.id}">拒单 reject</button>`);
          return `<div class="order ${fresh ? 'fresh' : ''} ${ACTIVE.includes(o.state) ? '' : 'done'}" data-id="${o.id}" data-state="${o.state}">
            <h3><span class="state ${o.state}">${STATE[o.state] || o.state}</span> · ${o.id}</h3>
            <div class="meta">顾客 customer ${o.customer || '–'} · 送到 to ${o.address.text} · 承诺 promised ${clock(o.promised_at)}</div>
            <ul>${o.items.map(line).join('')}</ul>${acts.join('')}</div>`;
        }
        let fresh = new Set();
        function render() {
          const list = [...orders.values()].sort((a, b) =>
            (ACTIVE.includes(b.state) - ACTIVE.includes(a.state)) || (a.state === 'placed' ? -1 : 0) - (b.state === 'placed' ? -1 : 0)
            || new Date(a.promised_at) - new Date(b.promised_at));
          $('orders').innerHTML = list.length ? list.map(o => card(o, fresh.has(o.id))).join('') : '还没有订单 no orders yet';
        }
        $('orders').onclick = async e => {
          const b = e.target.closest('button'); if (!b) return;
          const id = b.dataset.id, act = b.dataset.act;
          const body = act === 'reject' ? {reason: $('why-' + id).value} : undefined;
          const j = await call('POST', `/v1/merchant/orders/${id}/${act}`, body);
          if (j && j.order) { orders.set(id, Object.assign(orders.get(id) || {}, j.order)); fresh.delete(id); render(); status(); }
        };
        async function status() {
          const s = await call('GET', '/v1/merchant/status'); if (!s) return;
          $('store').textContent = s.name + ' · ' + s.brand_zh;
          const share = Math.min(1, s.backlog_minutes / s.limit_minutes);
          const state = s.paused ? '已暂停 paused' : s.auto_paused ? '忙碌自动暂停 auto-paused (backlog)' : '接单中 open';
          $('status').innerHTML = `<p>状态 status: <b id="open-state">${state}</b></p>
            <p>待做 backlog: <b>${s.backlog_minutes} 分钟 min</b> / ${s.limit_minutes} (${s.backlog_cups} 杯 cups)</p>
            <div class="bar ${share >= 1 ? 'full' : share > 0.66 ? 'warn' : ''}"><div style="width:${share * 100}%"></div></div>`;
          s.drinks.concat(s.toppings).forEach(i => names[i.id] = i.name_zh);
          const toggle = i => `<label class="stock"><input type="checkbox" data-item="${i.id}" ${i.in_stock ? 'checked' : ''}> ${i.name_zh} ${i.id}` +
            (i.missing ? ` <span style="color:#c0392b">(缺${names[i.missing]} no ${i.missing})</span>` : '') + '</label>';
          $('stock').innerHTML = '<b>饮品 drinks</b><br>' + s.drinks.map(toggle).join('') + '<br><b>小料 toppings</b><br>' + s.toppings.map(toggle).join('');
        }
        $('stock').onchange = async e => {
          const box = e.target; if (!box.dataset.item) return;
          await call('PUT', '/v1/merchant/stock', {item: box.dataset.item, available: box.checked}); status();
        };
        $('pause').onclick = async () => { await call('PUT', '/v1/merchant/status', {status: 'paused'}); status(); };
        $('resume').onclick = async () => { await call('PUT', '/v1/merchant/status', {status: 'open'}); status(); };
        async function start() {
          if (!$('token').value.trim()) return;
          await status();
          const j = await call('GET', '/v1/merchant/orders'); if (!j) return;
          orders.clear(); j.orders.forEach(o => orders.set(o.id, o)); render();
          if (stream) stream.close();
          stream = new EventSource('/merchant/stream?access_token=' + encodeURIComponent($('token').value.trim()));
          stream.onopen = () => $('live').textContent = '● live';
          stream.onerror = () => $('live').textContent = '○ reconnecting';
          stream.addEventListener('order', e => {
            const o = JSON.parse(e.data); const known = orders.has(o.id);
            orders.set(o.id, o);
            if (!known && o.state === 'placed') { fresh.add(o.id); beep(); setTimeout(() => { fresh.delete(o.id); render(); }, 5000); }
            render(); status();
          });
        }
        setInterval(status, 5000);
        start();
        </script></body></html>
        """#
}
