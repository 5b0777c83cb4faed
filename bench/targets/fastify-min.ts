import Fastify from 'fastify';
const app = Fastify();
const body = { app: 'feishu-main', platform: 'feishu', kind: 'tenant_access_token', token: 't-g1044bfd8a7b2c0e9f3d6a5b4c3d2e1f0a9b8c7d6', expiresAt: '2026-11-22T09:00:00.000Z', expiresIn: 6890 };
app.get('/', async () => body);
const url = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`READY ${JSON.stringify({ url: url + '/' })}`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
