/**
 * A process that uses a file store, for tests that SIGKILL it: `hold DIR` opens the store and
 * waits; `write DIR` writes without end, printing `ack N` once write N is acknowledged; `grants DIR`
 * does the same with grants (`grant:g<N % 5>`, each write expecting the version it read).
 */
import { FileStore } from '../../src/stores/file.js';
import { keyRing } from '../../src/stores/index.js';

const [mode, dir] = process.argv.slice(2);
const key = process.env.STORE_KEY;
const store = new FileStore({ path: dir!, encryption: keyRing({ encryptionKey: key }) ?? 'none' });
await store.open();
process.stdout.write('ready\n');
if (mode === 'hold') {
  setInterval(() => {}, 60_000);
} else if (mode === 'grants') {
  for (let i = 1; ; i++) {
    const key = `grant:g${i % 5}`;
    const current = await store.getGrant(key);
    await store.putGrant(key, `refresh-${i}`, current?.version ?? 0);
    process.stdout.write(`ack ${i}\n`);
  }
} else {
  for (let i = 1; ; i++) {
    await store.putToken(`tok:k${i % 7}`, { value: `t-${i}`, version: i, expiresAt: Date.now() + 7_200_000, obtainedAt: Date.now() });
    await store.setState(`state:s${i % 11}`, `refresh-${i}`);
    process.stdout.write(`ack ${i}\n`);
  }
}
