import { createServer, type Server } from 'node:http';
import { once } from 'node:events';

/** What the demo's web app needs: where tokenhub and the simulators are, and its client key. */
export interface DemoPageOptions {
  hubUrl: string;
  simUrl: string;
  key: string;
  /** The app whose page is signed, and its platform (for the simulator's verifier). */
  app: string;
  platform: string;
}

/**
 * The demo's stand-in for a user's web app: `GET /page` renders a page that runs inside the
 * platform's client. Its server side asks tokenhub for the page's signature with its client key
 * (the browser never sees the key, nor the ticket), and, since this is a demo, asks the
 * simulator's verifier whether the platform's client would accept that config.
 */
export async function startDemoPage(options: DemoPageOptions): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/page') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /page\n');
      return;
    }
    const pageUrl = `http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/page'}`;
    render(options, pageUrl).then(
      (html) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" }).end(html),
      (err: unknown) => res.writeHead(502, { 'content-type': 'text/plain' }).end(`tokenhub did not sign the page: ${(err as Error).message}\n`),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/page`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function render(options: DemoPageOptions, pageUrl: string): Promise<string> {
  const res = await fetch(`${options.hubUrl}/v1/apps/${encodeURIComponent(options.app)}/jsapi/signature`, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: pageUrl }),
  });
  const signed = (await res.json()) as { call?: string; config?: Record<string, unknown>; error?: { message: string } };
  if (!res.ok || signed.config === undefined) throw new Error(signed.error?.message ?? `HTTP ${res.status}`);
  const verdict = await fetch(`${options.simUrl}/_sim/${options.platform}/jsapi/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...signed.config, url: pageUrl }),
  }).then((r) => r.json() as Promise<{ ok: boolean; reason?: string }>);
  const config = JSON.stringify(signed.config, null, 2);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tokenhub demo: a signed page</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}</style></head>
<body>
<h1>A page signed by tokenhub</h1>
<p>This page's server asked tokenhub (<code>POST /v1/apps/${escape(options.app)}/jsapi/signature</code>) for the signature of <code>${escape(pageUrl)}</code>. Inside the platform's client the page would call:</p>
<pre id="config">${escape(signed.call ?? 'wx.config')}(${escape(config)})</pre>
<p id="verified">The simulator's verifier says: <strong>${verdict.ok ? 'accepted' : `refused (${escape(verdict.reason ?? 'no reason')})`}</strong></p>
<p>The ticket never left tokenhub; reload the page for a new nonce and timestamp.</p>
</body></html>
`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
