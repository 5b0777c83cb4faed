// The baseline: a bare node:http server answering a constant JSON body of a token answer's size.
import { createServer } from 'node:http';

const body = JSON.stringify({
  app: 'feishu-main',
  platform: 'feishu',
  kind: 'tenant_access_token',
  token: 't-g1044bfd8a7b2c0e9f3d6a5b4c3d2e1f0a9b8c7d6',
  expiresAt: '2026-11-22T09:00:00.000Z',
  expiresIn: 6890,
});

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  console.log(`READY ${JSON.stringify({ url: `http://127.0.0.1:${port}/` })}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
