import type { TokenStore } from '../core/types.js';
import { ConfigError, type StoreConfig } from '../config.js';
import { MemoryStore } from './memory.js';

export function createStore(config: StoreConfig): TokenStore {
  switch (config.type) {
    case 'memory':
      return new MemoryStore();
    default:
      throw new ConfigError([`store.type: ${config.type} is not available yet`]);
  }
}
