// gRPC answers the sidecar makes itself, seen by a real @grpc/grpc-js client through two sidecars: a fault
// abort with grpcStatus and a sidecar timeout arrive as trailers-only responses carrying that status
// (DEADLINE_EXCEEDED for the timeout), and grpc-timeout is read as the route deadline when shorter and
// re-encoded downstream as the remaining budget.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROXY_ERROR_HEADER, type RouteRule } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, endpoint, route, serverConfig, SidecarProcess, tempHome, TestMesh, type TestContext } from './helpers.js';

const PROTO = `syntax = "proto3";
package dl;
service Clock {
  rpc Budget (Req) returns (Res);
}
message Req { int32 sleepMs = 1; }
message Res { int32 budgetMs = 1; }
`;

type Stub = {
  Budget(msg: { sleepMs: number }, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { budgetMs: number }) => void): void;
  close(): void;
};

describe('gRPC deadlines and sidecar-made statuses', () => {
  const home = tempHome({ after });
  const mesh = new TestMesh(home);
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-test-proto-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'dl.proto'), PROTO);
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, 'dl.proto'))) as unknown as {
    dl: { Clock: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } };
  };

  /** A grpc-js server that answers with the deadline budget it was given (-1: none), after sleepMs. */
  async function app(t: TestContext): Promise<number> {
    const server = new grpc.Server();
    server.addService(def.dl.Clock.service, {
      Budget: (call: grpc.ServerUnaryCall<{ sleepMs: number }, { budgetMs: number }>, cb: grpc.sendUnaryData<{ budgetMs: number }>) => {
        const deadline = call.getDeadline();
        const budgetMs = deadline === Infinity ? -1 : Math.round(new Date(deadline).getTime() - Date.now());
        const timer = setTimeout(() => cb(null, { budgetMs }), call.request.sleepMs);
        call.on('cancelled', () => clearTimeout(timer));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    t.after(() => server.forceShutdown());
    return port;
  }

  async function pair(t: TestContext, appPort: number, routes: RouteRule[]) {
    const server = SidecarProcess.start(t, mesh.home);
    const sc = serverConfig({ tls: mesh.tls('clock'), service: 'clock', appPort });
    sc.inbound!.protocol = 'grpc';
    const inbound = (await server.apply(sc)).inbound!;
    const client = SidecarProcess.start(t, mesh.home);
    const c = cluster('clock', [endpoint('clock', 'v1', inbound)]);
    c.protocol = 'grpc';
    const ports = await client.apply(clientConfig({ tls: mesh.tls('caller'), service: 'caller', outbound: [{ service: 'clock', port: 0, routes }], clusters: [c] }));
    const stub = new def.dl.Clock(`127.0.0.1:${ports.outbound.clock!}`, grpc.credentials.createInsecure()) as unknown as Stub;
    t.after(() => stub.close());
    const call = (sleepMs: number, deadlineMs?: number) =>
      new Promise<{ err: grpc.ServiceError | null; budgetMs: number }>((resolve) => {
        const options: grpc.CallOptions = deadlineMs !== undefined ? { deadline: Date.now() + deadlineMs } : {};
        stub.Budget({ sleepMs }, new grpc.Metadata(), options, (err, res) => resolve({ err, budgetMs: res?.budgetMs ?? NaN }));
      });
    return { call, client };
  }

  it('a fault abort with grpcStatus reaches the grpc-js client as that status (trailers-only)', async (t) => {
    const port = await app(t);
    const { call } = await pair(t, port, [route({ destinations: [{ service: 'clock', weight: 100 }], fault: { abort: { grpcStatus: 7, percent: 100 } } })]);
    const { err } = await call(0);
    assert.ok(err !== null);
    assert.equal(err.code, grpc.status.PERMISSION_DENIED);
    assert.equal(err.details, 'fault filter abort');
    assert.deepEqual(err.metadata.get(PROXY_ERROR_HEADER), ['fault-abort']);
  });

  it('a sidecar timeout on a gRPC call is DEADLINE_EXCEEDED, trailers-only, and names the timeout', async (t) => {
    const port = await app(t);
    const { call, client } = await pair(t, port, [route({ destinations: [{ service: 'clock', weight: 100 }], timeoutMs: 200 })]);
    const { err } = await call(5_000);
    assert.ok(err !== null);
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(err.details, /^timeout: no response within the route timeout of 200 ms/);
    assert.deepEqual(err.metadata.get(PROXY_ERROR_HEADER), ['timeout']);
    const [span] = await client.waitForSpans((s) => s.kind === 'client' && s.error === 'timeout');
    assert.equal(span!.status, 200);
  });

  it('reads grpc-timeout as the deadline when shorter than the route timeout, and re-encodes the remaining budget downstream', async (t) => {
    const port = await app(t);
    const { call } = await pair(t, port, [
      route({ destinations: [{ service: 'clock', weight: 100 }], timeoutMs: 60_000 }),
    ]);
    // The client's 2 s deadline is shorter than the route's 60 s: the app is given at most 2 s.
    const clientDeadline = await call(0, 2_000);
    assert.equal(clientDeadline.err, null);
    assert.ok(clientDeadline.budgetMs > 0 && clientDeadline.budgetMs <= 2_000, `app budget ${clientDeadline.budgetMs} ms`);
    // No client deadline: the route timeout (60 s) goes downstream as grpc-timeout.
    const routeOnly = await call(0);
    assert.equal(routeOnly.err, null);
    assert.ok(routeOnly.budgetMs > 2_000 && routeOnly.budgetMs <= 60_000, `app budget ${routeOnly.budgetMs} ms`);
  });

  it('a route timeout shorter than grpc-timeout is what the app sees', async (t) => {
    const port = await app(t);
    const { call } = await pair(t, port, [route({ destinations: [{ service: 'clock', weight: 100 }], timeoutMs: 1_500 })]);
    const r = await call(0, 60_000);
    assert.equal(r.err, null);
    assert.ok(r.budgetMs > 0 && r.budgetMs <= 1_500, `app budget ${r.budgetMs} ms`);
  });
});
