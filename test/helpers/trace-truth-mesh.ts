// A mesh whose traces once showed what did not happen (issue 15): `front` opens raw TCP connections to
// `db` (protocol: tcp, an echo server) and makes gRPC calls to `echo` (protocol: grpc) that fail with
// UNAVAILABLE, and calls `back` over HTTP a few times per request (sub-millisecond child spans). Neither
// the TCP connection nor the gRPC call carries the incoming request's trace headers, so each is the root
// of a trace of its own: what the trace list shows for it is its own outcome.
// Shared by test/telemetry/trace-truth.test.ts (the data) and test/ui/trace-truth.test.ts (the display).
import { join } from 'node:path';
import { REPO } from './mesh-process.js';

export const TRACE_TRUTH_MESH = `name: truth
ingress:
  - { port: 0, service: front }
services:
  front:
    run: node front.js
    health: /healthz
    upstreams: [db, echo, back]
  back:
    run: node back.js
    health: /healthz
  db:
    run: node db.js
    protocol: tcp
  echo:
    run: node echo.js
    protocol: grpc
`;

const PROTO = `syntax = "proto3";
package echo;
service Echo { rpc Say (Msg) returns (Msg); }
message Msg { string text = 1; }
`;

const need = (name: string): string => `require(${JSON.stringify(join(REPO, 'node_modules', name))})`;

const FRONT = `
const http = require('node:http');
const net = require('node:net');
const grpc = ${need('@grpc/grpc-js')};
const loader = ${need('@grpc/proto-loader')};
const Echo = grpc.loadPackageDefinition(loader.loadSync(__dirname + '/echo.proto')).echo.Echo;
const echo = new Echo(new URL(process.env.ECHO_URL).host, grpc.credentials.createInsecure());
const db = new URL(process.env.DB_URL);
const back = new URL(process.env.BACK_URL);
function viaTcp(done) {
  const s = net.connect(Number(db.port), db.hostname, () => s.write('ping'));
  s.once('data', (d) => { s.end(); done(null, String(d)); });
  s.once('error', done);
}
function get(path, headers) {
  return new Promise((resolve, reject) => {
    http.get({ host: back.hostname, port: back.port, path, headers }, (r) => { r.resume(); r.on('end', () => resolve(r.statusCode)); }).on('error', reject);
  });
}
http.createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.url === '/tcp') return viaTcp((err, text) => res.writeHead(err ? 502 : 200).end(err ? String(err) : text));
  if (req.url === '/grpc') return echo.Say({ text: 'hi' }, (err) => res.writeHead(200).end(err ? 'grpc ' + err.code : 'grpc ok'));
  if (req.url === '/chain') {
    const headers = { traceparent: req.headers.traceparent };
    for (let i = 0; i < 3; i++) await get('/item/' + i, headers);
    return res.end('chain');
  }
  res.writeHead(404).end();
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const BACK = `
require('node:http').createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : 'item')).listen(Number(process.env.PORT), '127.0.0.1');
`;

const DB = `
require('node:net').createServer((s) => s.pipe(s)).listen(Number(process.env.PORT), '127.0.0.1');
`;

const ECHO = `
const grpc = ${need('@grpc/grpc-js')};
const loader = ${need('@grpc/proto-loader')};
const Echo = grpc.loadPackageDefinition(loader.loadSync(__dirname + '/echo.proto')).echo.Echo;
const server = new grpc.Server();
server.addService(Echo.service, { Say: (_call, cb) => cb({ code: grpc.status.UNAVAILABLE, details: 'down for maintenance' }) });
server.bindAsync('127.0.0.1:' + process.env.PORT, grpc.ServerCredentials.createInsecure(), () => {});
`;

export const TRACE_TRUTH_FILES: Record<string, string> = {
  'front.js': FRONT,
  'back.js': BACK,
  'db.js': DB,
  'echo.js': ECHO,
  'echo.proto': PROTO,
  'package.json': '{ "type": "commonjs" }\n',
};
