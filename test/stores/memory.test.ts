import { MemoryStore } from '../../src/stores/memory.js';
import { storeConformance } from './conformance.js';

storeConformance({
  name: 'memory',
  shared: false,
  async create() {
    const store = new MemoryStore();
    return { store, cleanup: () => store.close() };
  },
});
