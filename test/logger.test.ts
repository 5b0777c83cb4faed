import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../src/logger.js';
import { LogCapture } from './helpers/stack.js';

describe('the logger', () => {
  it('writes JSON lines with the level by name and an ISO time, secrets censored', () => {
    const out = new LogCapture();
    const log = createLogger('info', out);
    log.info({ app: 'feishu-main', config: { appSecret: 's3cret-value' } }, 'token refreshed');
    log.debug({}, 'not at info');
    const lines = out.text.trim().split('\n');
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(line.level, 'info');
    assert.match(String(line.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(line.msg, 'token refreshed');
    assert.deepEqual(line.config, { appSecret: '[redacted]' });
    assert.ok(!out.text.includes('s3cret-value'));
  });

  it('pretty: one readable line per entry with the level name, secrets still censored', async () => {
    const out = new LogCapture();
    const log = createLogger('info', out, 'pretty');
    log.warn({ app: 'feishu-main', alert: { secret: 's3cret-value' } }, 'token fetch failed');
    await new Promise((r) => setImmediate(r));
    assert.match(out.text, /WARN/);
    assert.match(out.text, /token fetch failed/);
    assert.match(out.text, /feishu-main/);
    assert.ok(!out.text.startsWith('{'), out.text);
    assert.ok(!out.text.includes('s3cret-value'));
  });
});
