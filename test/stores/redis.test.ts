import { redisStore } from '../helpers/redis.js';
import { storeConformance } from './conformance.js';

storeConformance({
  name: 'redis',
  shared: true,
  async create() {
    const s = await redisStore();
    return {
      store: s.store,
      async peer() {
        const peer = s.peer();
        await peer.open();
        return peer;
      },
      cleanup: s.cleanup,
    };
  },
});
