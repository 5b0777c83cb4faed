import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../src/stores/file.js';
import { storeConformance } from './conformance.js';

storeConformance({
  name: 'file',
  shared: false,
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-file-'));
    const store = new FileStore({ path: dir });
    return {
      store,
      async cleanup() {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
});
