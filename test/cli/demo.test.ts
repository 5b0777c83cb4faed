import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { it } from 'node:test';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;

it('the demo (npm start) serves a token for every app it prints, with the key it prints', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'demo', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines: string[] = [];
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        if (line.includes('/_sim/')) resolve();
      });
      child.once('exit', () => reject(new Error(`demo exited:\n${lines.join('\n')}`)));
    });
    const key = /client key: (\S+)/.exec(lines.join('\n'))?.[1];
    assert.ok(key, 'no client key printed');
    const tokenUrls = lines.map((l) => /curl -s -H 'Authorization: Bearer \S+' '?(\S+\/tokens\/\w+(?:\?tenant_key=\w+)?)'?$/.exec(l)?.[1]).filter((u): u is string => u !== undefined);
    assert.ok(tokenUrls.length >= 5, `only ${tokenUrls.length} token curl lines`);
    for (const url of tokenUrls) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
      const text = await res.text();
      assert.equal(res.status, 200, `${url}: ${text}`);
      const body = JSON.parse(text) as { token: string; expiresIn: number };
      assert.ok(body.token.length > 10 && body.expiresIn > 0);
    }
    // The signed page: its server asked tokenhub, and the simulator's verifier accepts what the page got.
    const page = /A page signed for \S+ JS-SDK .*: (http\S+)/.exec(lines.join('\n'))?.[1];
    assert.ok(page, 'no signed page printed');
    const html = await (await fetch(page)).text();
    assert.match(html, /&#34;signature&#34;: &#34;[0-9a-f]{40}&#34;/, 'the config, HTML-escaped');
    assert.match(html, /verifier says: <strong>accepted<\/strong>/);
    assert.ok(!html.includes(key), 'the page never holds the client key');
    // The console it prints opens with the same key: the demo's client is an admin.
    const consoleUrl = /Console .*: (\S+\/console)$/m.exec(lines.join('\n'))?.[1];
    assert.ok(consoleUrl, 'no console line printed');
    assert.equal((await fetch(consoleUrl)).status, 200);
    const status = await fetch(new URL('/v1/admin/status', consoleUrl), { headers: { authorization: `Bearer ${key}` } });
    assert.equal(status.status, 200);
    assert.ok(((await status.json()) as { apps: unknown[] }).apps.length >= 5);
  } finally {
    child.kill('SIGTERM');
  }
});
