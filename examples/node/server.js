// The Node.js bootapp example: an HTTP server that counts requests in a file
// on the data volume, so that persistence across boot-disk replacements is
// visible. It follows the contract of examples/hello:
//
//   GET /        increments the counter and returns it ("count: N")
//   GET /healthz returns 200 "ok" without touching the counter
//   GET /info    uptime (formatted with the `ms` package) and versions, JSON
//
// It listens on $PORT (default 8080). The counter lives in $DATA_DIR/count
// (default /data/count). Every update is written to a temporary file,
// fsync'd and renamed over the old one, and the directory is fsync'd, so a
// power cut never loses an acknowledged count. SIGTERM (and SIGINT) close
// the server and exit 0.
//
// Plain CommonJS and the node: built-ins only, so that it runs on Node 18
// (Debian bookworm's nodejs) and later.
'use strict';

const fs = require('node:fs/promises');
const http = require('node:http');
const path = require('node:path');
const ms = require('ms');

const started = Date.now();

function uptime(long) {
  return ms(Date.now() - started, { long });
}

function port() {
  const s = process.env.PORT || '8080';
  const n = Number(s);
  if (!/^[0-9]+$/.test(s) || n < 1 || n > 65535) {
    console.error(`PORT=${s}: not a port number (1 to 65535)`);
    process.exit(2);
  }
  return n;
}

// Counter is a crash-safe integer persisted in one file. Increments are
// queued one after the other, like the mutex of examples/hello.
class Counter {
  constructor(file) {
    this.file = file;
    this.queue = Promise.resolve();
  }

  async read() {
    let s;
    try {
      s = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') return 0;
      throw err;
    }
    const t = s.trim();
    if (!/^[0-9]+$/.test(t)) throw new Error(`parse ${this.file}: ${JSON.stringify(t)} is not a count`);
    return Number(t);
  }

  // increment adds one to the counter and resolves to the new value once
  // it is on stable storage.
  increment() {
    const next = this.queue.then(() => this.write());
    this.queue = next.catch(() => {}); // a failed write does not block the next one
    return next;
  }

  async write() {
    const n = (await this.read()) + 1;
    const tmp = this.file + '.tmp';
    const f = await fs.open(tmp, 'w', 0o644);
    try {
      await f.writeFile(`${n}\n`);
      await f.sync();
    } finally {
      await f.close();
    }
    await fs.rename(tmp, this.file);
    const d = await fs.open(path.dirname(this.file), 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    return n;
  }
}

const counter = new Counter(path.join(process.env.DATA_DIR || '/data', 'count'));

function reply(res, status, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const routes = {
  '/': async (req, res) => {
    let n;
    try {
      n = await counter.increment();
    } catch (err) {
      console.error(`increment: ${err.message}`);
      reply(res, 500, `cannot persist counter: ${err.message}\n`);
      return;
    }
    reply(res, 200, `count: ${n}\n`);
  },
  '/healthz': (req, res) => reply(res, 200, 'ok\n'),
  '/info': (req, res) => {
    const info = { uptime: uptime(false), node: process.version, counter: counter.file };
    reply(res, 200, JSON.stringify(info) + '\n', 'application/json');
  },
};

const server = http.createServer((req, res) => {
  const route = routes[new URL(req.url, 'http://localhost').pathname];
  if (!route) {
    reply(res, 404, '404 page not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, 405, 'Method Not Allowed\n');
    return;
  }
  route(req, res);
});

function shutdown(signal) {
  console.log(`${signal}: shutting down after ${uptime(true)}`);
  server.close(() => {
    console.log('stopped');
    process.exit(0);
  });
  // Node 18 keeps idle keep-alive connections open on close(); later
  // versions close them themselves.
  server.closeIdleConnections();
  // Give requests in progress 5 s, as examples/hello does, then cut them.
  setTimeout(() => server.closeAllConnections(), 5000).unref();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

server.on('error', (err) => {
  console.error(`listen: ${err.message}`);
  process.exit(1);
});
server.listen(port(), () => {
  console.log(`node example: listening on :${server.address().port}, counter in ${counter.file}`);
});
