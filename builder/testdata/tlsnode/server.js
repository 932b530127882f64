// The Node.js app of the end-to-end TLS test (TestEndToEndTLS). It listens
// on :8080 and serves
//
//   GET /healthz        200 "ok"
//   GET /fetch?url=URL  GETs URL with node:https and Node's default trust
//                       (Debian's Node.js: OpenSSL's default CA store, the
//                       image's CA bundle): 200 "ok STATUS", or 502 with
//                       the error's code and message
//
// SIGTERM logs "SIGTERM: shutting down" and exits 0 once the server closed.
'use strict';

const http = require('node:http');
const https = require('node:https');

function reply(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function fetch(res, target) {
  let done = false;
  const finish = (status, body) => {
    if (!done) {
      done = true;
      reply(res, status, body);
    }
  };
  let req;
  try {
    req = https.get(target, { timeout: 60000 }, (r) => {
      r.resume();
      finish(200, `ok ${r.statusCode}\n`);
    });
  } catch (err) {
    finish(502, `${err.code || 'error'}: ${err.message}\n`);
    return;
  }
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err) => finish(502, `${err.code || 'error'}: ${err.message}\n`));
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://localhost');
  if (req.method !== 'GET') {
    reply(res, 405, 'Method Not Allowed\n');
  } else if (u.pathname === '/healthz') {
    reply(res, 200, 'ok\n');
  } else if (u.pathname === '/fetch') {
    fetch(res, u.searchParams.get('url') || '');
  } else {
    reply(res, 404, '404 page not found\n');
  }
});

process.once('SIGTERM', () => {
  console.log('SIGTERM: shutting down');
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => server.closeAllConnections(), 5000).unref();
});

server.listen(8080, () => console.log(`tlsnode: listening on :${server.address().port}`));
