#!/usr/bin/env node
// The image's HEALTHCHECK (slim images have no curl): exit 0 when GET /healthz answers 200 within
// 3 s, else 1 with the reason on stderr. TOKENHUB_HEALTH_URL when tokenhub listens elsewhere.
// Written to run as a script of either module system: it is installed without its .js.
const url = process.env.TOKENHUB_HEALTH_URL || 'http://127.0.0.1:8700/healthz';
fetch(url, { signal: AbortSignal.timeout(3000) }).then(
  (res) => {
    if (res.status !== 200) console.error(`tokenhub-healthcheck: ${url} answered ${res.status}`);
    process.exit(res.status === 200 ? 0 : 1);
  },
  (err) => {
    console.error(`tokenhub-healthcheck: ${url}: ${err.cause?.code ?? err.message}`);
    process.exit(1);
  },
);
