/// `/report`: an operator picks a campaign and reads what it bought, or downloads it as CSV or
/// JSON. The report itself is rendered by the server (`?format=html`), the same as
/// `lantern report --format html` writes.
enum ReportPage {
    static let html = #"""
        <!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Lantern 活动报告 campaign report</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>body{font:14px system-ui,sans-serif;margin:0}header{padding:10px 16px;background:#222;color:#fff;display:flex;gap:8px;flex-wrap:wrap;align-items:center}
        input,select,button{font:inherit;padding:4px 8px}iframe{border:0;width:100%;height:calc(100vh - 60px)}#note{color:#f39c12}</style></head><body>
        <header><b>🏮 活动报告 Campaign report</b>
        <input id="token" placeholder="admin token" size="28"><button id="load">登录 sign in</button>
        <select id="campaign"></select><button id="show">查看 view</button><button id="csv">CSV</button><button id="json">JSON</button>
        <span id="note"></span></header>
        <iframe id="report" title="report"></iframe>
        <script>
        const $ = id => document.getElementById(id);
        $('token').value = localStorage.getItem('lantern.admin') || '';
        const auth = () => ({'Authorization': 'Bearer ' + $('token').value.trim()});
        async function get(format) {
          const r = await fetch(`/v1/admin/campaigns/${encodeURIComponent($('campaign').value)}/report?format=${format}`, {headers: auth()});
          if (!r.ok) { const j = await r.json().catch(() => ({})); throw new Error((j.error && j.error.message) || r.status); }
          return r;
        }
        async function campaigns() {
          localStorage.setItem('lantern.admin', $('token').value.trim());
          const r = await fetch('/v1/admin/stats', {headers: auth()});
          if (!r.ok) { $('note').textContent = '需要管理员令牌 an admin token is needed'; return; }
          const s = await r.json();
          $('campaign').innerHTML = s.campaigns.map(c => `<option>${c.id.replace(/</g, '&lt;')}</option>`).join('');
          $('note').textContent = '';
          if (s.campaigns.length) show();
        }
        async function show() {
          try { $('report').srcdoc = await (await get('html')).text(); $('note').textContent = ''; } catch (e) { $('note').textContent = e.message; }
        }
        async function download(format) {
          try {
            const blob = await (await get(format)).blob();
            const a = document.createElement('a');
            a.href = URL.createObjectURL(blob); a.download = `${$('campaign').value}-report.${format}`; a.click();
          } catch (e) { $('note').textContent = e.message; }
        }
        $('load').onclick = campaigns; $('show').onclick = show;
        $('csv').onclick = () => download('csv'); $('json').onclick = () => download('json');
        if ($('token').value) campaigns();
        </script></body></html>
        """#
}
