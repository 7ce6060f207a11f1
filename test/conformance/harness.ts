// The Gateway API conformance suite run against devmesh: one real mesh of echo backends named like the
// suite's (infra-backend-v1..v3 in gateway-conformance-infra, echo v1/v2 in gateway-conformance-mesh),
// each upstream test's manifests imported unchanged into it (the policy file is replaced per test and the
// harness waits for every sidecar to ACK it), then every transcribed case sent through the ingress
// (Gateway tests) or from the echo-v1 workload through its sidecar (mesh tests), and compared as the
// suite's CompareRoundTrip (Gateway) and MeshPod compareRequest (mesh) do.
//
// One translation of the suite's setting to a laptop: the suite's Gateway listens on port 80, devmesh's
// ingress on a port of its own. So where the suite expects a redirect to keep "port 80 or none", the
// ingress's port is accepted too (it is the port the request came to).
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { WebSocket } from 'ws';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import type { StatusResponse } from '../../src/contract/api.js';
import { loadMeshFile } from '../../src/config/load-mesh.js';
import { importPolicy } from '../../src/import/import-policy.js';
import { readInputs } from '../../src/import/sources.js';
import { REPO, startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { CLIENT_PATH, LOG_PATH, MIRROR_ID_HEADER, send, type ClientResponse, type EchoReport } from './echo-app.js';
import { callGrpcEcho, closeGrpcClients, codeName, codeOf, GRPC_SERVICE, type EchoMethod, type GrpcResult } from './grpc-echo.js';

const HERE = join(REPO, 'test', 'conformance');
const ECHO = join(REPO, 'dist', 'test', 'conformance', 'echo-app.js');
const POLICY = 'conformance.policy.yaml';

const Headers = z.record(z.string(), z.string()).nullable();
const RequestData = z.looseObject({
  Host: z.string().optional(),
  Method: z.string().optional(),
  Path: z.string().optional(),
  Headers: Headers.optional(),
  Protocol: z.string().optional(),
  UnfollowRedirect: z.boolean().optional(),
});
const CaseData = z.looseObject({
  TestCaseName: z.string().optional(),
  Request: RequestData.optional(),
  ExpectedRequest: z.looseObject({ Request: RequestData.optional(), AbsentHeaders: z.array(z.string()).optional(), HTTPPort: z.string().optional() }).nullable().optional(),
  RedirectRequest: z.looseObject({ Scheme: z.string().optional(), Host: z.string().optional(), Port: z.string().optional(), Path: z.string().optional() }).nullable().optional(),
  BackendSetResponseHeaders: Headers.optional(),
  Response: z
    .looseObject({
      StatusCode: z.number().optional(),
      StatusCodes: z.array(z.number()).optional(),
      Headers: Headers.optional(),
      ValidHeaderValues: z.record(z.string(), z.array(z.string())).optional(),
      AbsentHeaders: z.array(z.string()).optional(),
      IgnoreWhitespace: z.boolean().optional(),
    })
    .optional(),
  Backend: z.string().optional(),
  Namespace: z.string().optional(),
  MirroredTo: z.array(z.looseObject({ BackendRef: z.looseObject({ Name: z.string(), Namespace: z.string().optional() }), Percent: z.number().optional() })).nullable().optional(),
  /**
   * The retry tests: the query for the echo server's failure injection (/retry/), sent after Request.Path
   * with a fresh uuid on every probe, as assertConsistentRetryBehaviour does.
   */
  RetrySimulation: z.record(z.string(), z.string()).optional(),
  /**
   * HTTPRouteBackendProtocolWebSocket: a WebSocket to Path through the ingress (Origin as the suite sends
   * it), each message sent and its echo compared, text as text and binary as binary.
   */
  WebSocket: z.strictObject({ Path: z.string(), Origin: z.string(), Messages: z.array(z.union([z.strictObject({ Text: z.string() }), z.strictObject({ Binary: z.array(z.number().int().min(0).max(255)) })])) }).optional(),
  /** Mesh tests: the workload the suite's client runs in (echo.ConnectToApp); echo-v1 when unset. */
  Client: z.enum(['echo-v1', 'echo-v2']).optional(),
});
/** conformance/utils/grpc ExpectedResponse: exactly one of the three requests (all are empty EchoRequests). */
const GrpcCaseData = z
  .strictObject({
    TestCaseName: z.string().optional(),
    EchoRequest: z.strictObject({}).optional(),
    EchoTwoRequest: z.strictObject({}).optional(),
    EchoThreeRequest: z.strictObject({}).optional(),
    RequestMetadata: z.strictObject({ Authority: z.string().optional(), Metadata: z.record(z.string(), z.string()).optional() }).optional(),
    /**
     * Code: a grpc-go codes.Code name, OK when unset. Headers are transcribed as upstream writes them, but,
     * as in upstream's compareResponse, not compared (the gRPC utils compare code, method, namespace, pod).
     */
    Response: z.strictObject({ Code: z.string().optional(), Headers: z.record(z.string(), z.array(z.string())).optional() }).optional(),
    Backend: z.string().optional(),
    Namespace: z.string().optional(),
  })
  .refine((c) => [c.EchoRequest, c.EchoTwoRequest, c.EchoThreeRequest].filter((r) => r !== undefined).length === 1, 'expected exactly one of EchoRequest, EchoTwoRequest, EchoThreeRequest');
type GrpcCaseData = z.infer<typeof GrpcCaseData>;
export const TestData = z.looseObject({
  test: z.string(),
  upstream: z.looseObject({ repository: z.string(), path: z.string(), commit: z.string() }),
  profile: z.enum(['gateway', 'mesh']),
  features: z.array(z.string()),
  manifests: z.array(z.string()),
  /** HTTP and mesh cases (http.ExpectedResponse); Gateway GRPCRoute tests' cases are grpc.ExpectedResponse. */
  cases: z.array(z.looseObject({})),
  weights: z.record(z.string(), z.number()).optional(),
  /**
   * Backends imported under another local name (the importer's --map): a devmesh service has one port and
   * one protocol, so a Service port the suite gives another appProtocol is a service of its own here.
   */
  map: z.record(z.string(), z.string()).optional(),
});
export type TestData = z.infer<typeof TestData>;
type CaseData = z.infer<typeof CaseData>;

/** Why a whole test, or some of its cases, cannot run on a laptop mesh (test/conformance/not-applicable.json). */
const NotApplicable = z.looseObject({
  /**
   * Features devmesh does not claim, with the reason: as in the upstream suite, a test that needs one is
   * not run (an implementation's conformance report lists the features it supports).
   */
  unsupportedFeatures: z.record(z.string(), z.string()),
  tests: z.record(z.string(), z.string()),
  /**
   * Applicable tests that devmesh fails today, with why: their failures are listed in the table and do
   * not fail the run (node:test marks them todo, as the repository's contract suites do with known gaps).
   */
  knownGaps: z.record(z.string(), z.string()),
  /** test → [case index, reason] pairs. */
  cases: z.record(z.string(), z.array(z.tuple([z.number().int(), z.string()]))),
});

export interface CaseResult {
  index: number;
  name: string;
  outcome: 'passed' | 'failed' | 'not-applicable';
  detail: string;
}

export interface TestResult {
  test: string;
  profile: 'gateway' | 'mesh';
  upstream: string;
  cases: CaseResult[];
  /** Set when the whole test does not apply. */
  notApplicable: string | null;
  /** Set when the test is a known gap of devmesh (not-applicable.json knownGaps). */
  knownGap: string | null;
}

export function loadTests(): { tests: TestData[]; notApplicable: z.infer<typeof NotApplicable> } {
  const dir = join(HERE, 'cases');
  const tests = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const parsed = TestData.safeParse(JSON.parse(readFileSync(join(dir, f), 'utf8')));
      if (!parsed.success) throw new Error(`test/conformance/cases/${f}: ${z.prettifyError(parsed.error)}`);
      return parsed.data;
    });
  const na = NotApplicable.parse(JSON.parse(readFileSync(join(HERE, 'not-applicable.json'), 'utf8')));
  for (const name of [...Object.keys(na.tests), ...Object.keys(na.cases), ...Object.keys(na.knownGaps)]) {
    if (!tests.some((t) => t.test === name)) throw new Error(`test/conformance/not-applicable.json names ${name}, which no transcribed test has`);
  }
  return { tests, notApplicable: na };
}

function meshYaml(): string {
  const echo = (ns: string) => `{ run: node ${JSON.stringify(ECHO)}, env: { NAMESPACE: ${ns} } }`;
  const grpc = (ns: string) => `run: node ${JSON.stringify(ECHO)}, env: { NAMESPACE: ${ns} }, protocol: grpc`;
  return `name: gateway-conformance
include: [${POLICY}]
ingress: [{ port: 0, service: infra-backend-v1 }]
services:
  infra-backend-v1: ${echo('gateway-conformance-infra')}
  infra-backend-v2: ${echo('gateway-conformance-infra')}
  infra-backend-v3: ${echo('gateway-conformance-infra')}
  # infra-backend-v1's port 8081 (appProtocol kubernetes.io/h2c, echo-basic's h2c-only server on 3001).
  infra-backend-v1-h2c: { run: node ${JSON.stringify(ECHO)}, env: { NAMESPACE: gateway-conformance-infra, H2C_ONLY: '1' }, protocol: http2 }
  web-backend: ${echo('gateway-conformance-web-backend')}
  app-backend-v1: ${echo('gateway-conformance-app-backend')}
  app-backend-v2: ${echo('gateway-conformance-app-backend')}
  grpc-infra-backend-v1: { ${grpc('gateway-conformance-infra')} }
  grpc-infra-backend-v2: { ${grpc('gateway-conformance-infra')} }
  grpc-infra-backend-v3: { ${grpc('gateway-conformance-infra')} }
  echo:
    run: node ${JSON.stringify(ECHO)}
    env: { NAMESPACE: gateway-conformance-mesh }
    # The mesh's echo answers HTTP and gRPC on its one port (upstream's: 80 and 7070), so the sidecar
    # speaks h2c to it for both.
    protocol: http2
    upstreams: [echo]
    versions: { v1: {}, v2: {} }
`;
}

export class ConformanceMesh {
  private lastPolicy = '';

  private constructor(
    readonly mesh: RunningMesh,
    readonly ingressPort: number,
  ) {}

  static async start(): Promise<ConformanceMesh> {
    const mesh = await startMesh({ yaml: meshYaml(), files: { [POLICY]: '{}\n' }, readyTimeoutMs: 120_000 });
    const port = Number(new URL(mesh.ingress['infra-backend-v1']!).port);
    return new ConformanceMesh(mesh, port);
  }

  stop(): Promise<void> {
    closeGrpcClients();
    return this.mesh.stop();
  }

  /** Imports the manifests (unchanged) as the mesh's policy and waits until every sidecar has ACKed it. */
  async apply(manifests: string[], map?: Record<string, string>): Promise<{ problems: string[] }> {
    const meshFile = join(this.mesh.dir, 'devmesh.yaml');
    const inputs = readInputs(manifests.map((m) => join(HERE, 'manifests', m.replace(/^conformance\/tests\//, ''))));
    const result = importPolicy(inputs, { mesh: loadMeshFile(meshFile), ...(map ? { map } : {}) });
    const problems = result.report.entries.filter((e) => e.outcome === 'invalid').map((e) => `${e.kind} ${e.name} ${e.path}: ${e.detail}`);
    const text = stringify(result.policy);
    if (text === this.lastPolicy) return { problems };
    const before = (await this.status()).config.version;
    writeFileSync(join(this.mesh.dir, POLICY), text);
    this.lastPolicy = text;
    await waitFor(
      'every sidecar to ACK the imported policy',
      async () => {
        const s = await this.status();
        if (s.config.error) throw new Error(`the mesh refused the imported policy: ${s.config.error}`);
        if (s.config.version <= before) return false;
        const acks = [...s.ingress.map((i) => i.sidecar.ackedVersion), ...s.services.flatMap((x) => x.instances.map((i) => i.sidecar.ackedVersion))];
        return acks.every((v) => v >= s.config.version);
      },
      30_000,
      50,
    ).catch((err: Error) => {
      problems.push(err.message);
    });
    return { problems };
  }

  private status(): Promise<StatusResponse> {
    return this.mesh.api<StatusResponse>('/api/status');
  }

  private appPort(instance: string): number {
    return this.appPorts.get(instance)!;
  }

  private readonly appPorts = new Map<string, number>();

  async runTest(data: TestData, na: z.infer<typeof NotApplicable>): Promise<TestResult> {
    const upstream = `${data.upstream.repository} ${data.upstream.path}@${data.upstream.commit.slice(0, 9)}`;
    const feature = data.features.find((f) => na.unsupportedFeatures[f] !== undefined);
    const whole = na.tests[data.test] ?? (feature ? `${feature} not claimed: ${na.unsupportedFeatures[feature]}` : undefined);
    if (whole !== undefined) {
      return { test: data.test, profile: data.profile, upstream, notApplicable: whole, knownGap: null, cases: data.cases.map((_, index) => ({ index, name: `${index}`, outcome: 'not-applicable', detail: whole })) };
    }
    const knownGap = na.knownGaps[data.test] ?? null;
    if (isGrpcGatewayTest(data)) return this.runGrpcTest(data, na, upstream, knownGap);
    let cases: CaseData[];
    try {
      cases = data.cases.map((c, i) => parseCase(data, c, i));
    } catch (err) {
      const detail = (err as Error).message;
      return { test: data.test, profile: data.profile, upstream, notApplicable: null, knownGap, cases: data.cases.map((_, index) => ({ index, name: `${index}`, outcome: 'failed', detail })) };
    }
    const names = cases.map((c, i) => caseName(c, i));
    if (this.appPorts.size === 0) {
      for (const s of (await this.status()).services) for (const i of s.instances) this.appPorts.set(i.id, i.appPort);
    }
    const { problems } = await this.apply(data.manifests, data.map);
    const skip = new Map(na.cases[data.test] ?? []);
    const results: CaseResult[] = [];
    for (const [index, c] of cases.entries()) {
      const name = names[index]!;
      const reason = skip.get(index);
      if (reason !== undefined) {
        results.push({ index, name, outcome: 'not-applicable', detail: reason });
        continue;
      }
      const error = data.weights
        ? await this.weighted(data.weights, () => this.eventually(data.profile, c), async () => echoOf(data.profile === 'gateway' ? await this.sendGateway(withJitter(c)) : await this.sendMesh(withJitter(c))))
        : ((await this.eventually(data.profile, c)) ?? (await this.mirrored(data.profile, c)));
      results.push({ index, name, outcome: error === null ? 'passed' : 'failed', detail: error === null ? '' : `${error}${problems.length ? ` (import: ${problems.join('; ')})` : ''}` });
    }
    return { test: data.test, profile: data.profile, upstream, notApplicable: null, knownGap, cases: results };
  }

  /** A Gateway GRPCRoute test: its cases are grpc.ExpectedResponse, sent with a gRPC client to the ingress. */
  private async runGrpcTest(data: TestData, na: z.infer<typeof NotApplicable>, upstream: string, knownGap: string | null): Promise<TestResult> {
    let cases: GrpcCaseData[];
    try {
      cases = data.cases.map((raw, i) => {
        const parsed = GrpcCaseData.safeParse(raw);
        if (!parsed.success) throw new Error(`test/conformance/cases/${data.test}.json case ${i}: ${z.prettifyError(parsed.error)}`);
        codeOf(parsed.data.Response?.Code ?? 'OK');
        return parsed.data;
      });
    } catch (err) {
      const detail = (err as Error).message;
      return { test: data.test, profile: data.profile, upstream, notApplicable: null, knownGap, cases: data.cases.map((_, index) => ({ index, name: `${index}`, outcome: 'failed', detail })) };
    }
    const { problems } = await this.apply(data.manifests, data.map);
    const skip = new Map(na.cases[data.test] ?? []);
    const address = `127.0.0.1:${this.ingressPort}`;
    const results: CaseResult[] = [];
    for (const [index, c] of cases.entries()) {
      const name = grpcCaseName(c, index);
      const reason = skip.get(index);
      if (reason !== undefined) {
        results.push({ index, name, outcome: 'not-applicable', detail: reason });
        continue;
      }
      const once = async () => compareGrpc(c, await callGrpcEcho(address, grpcCall(c)));
      const error = data.weights
        ? await this.weighted(data.weights, () => this.until(once), async () => {
            // grpc.AddEntropy: a random x-jitter metadata value per request.
            const r = await callGrpcEcho(address, grpcCall({ ...c, RequestMetadata: { ...c.RequestMetadata, Metadata: { ...c.RequestMetadata?.Metadata, 'x-jitter': String(Math.random()) } } }));
            if (r.code !== 0) throw new Error(`expected OK response, got ${r.codeName}: ${r.details}`);
            return { pod: r.response?.assertions?.context?.pod ?? '' };
          })
        : await this.until(once);
      results.push({ index, name, outcome: error === null ? 'passed' : 'failed', detail: error === null ? '' : `${error}${problems.length ? ` (import: ${problems.join('; ')})` : ''}` });
    }
    return { test: data.test, profile: data.profile, upstream, notApplicable: null, knownGap, cases: results };
  }

  /** The suite's eventual consistency: the case must hold 3 times in a row within 2.5 s. */
  private eventually(profile: 'gateway' | 'mesh', c: CaseData): Promise<string | null> {
    if (c.WebSocket) return this.until(() => this.webSocketRoundTrip(c.WebSocket!));
    return this.until(async () => {
      const probe = withRetrySimulation(c);
      return profile === 'gateway' ? this.compareGateway(probe, await this.sendGateway(probe)) : this.compareMesh(probe, await this.sendMesh(probe));
    });
  }

  /** `check` (null: it held) must hold 3 times in a row within 2.5 s; a throw counts as not holding. */
  private async until(check: () => Promise<string | null>): Promise<string | null> {
    const deadline = Date.now() + 2500;
    let streak = 0;
    let last: string | null = null;
    while (Date.now() < deadline) {
      try {
        last = await check();
      } catch (err) {
        last = (err as Error).message;
      }
      if (last === null && ++streak >= 3) return null;
      if (last !== null) {
        streak = 0;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return last ?? 'did not hold 3 times in a row within 2.5 s';
  }

  /**
   * The suite checks that each backend of MirroredTo got a copy (in its logs): one more request, tagged,
   * must show up at every mirror backend within 10 s. A Percent mirror is not checked for its share.
   */
  private async mirrored(profile: 'gateway' | 'mesh', c: CaseData): Promise<string | null> {
    const targets = (c.MirroredTo ?? []).filter((m) => m.Percent === undefined);
    if (targets.length === 0) return null;
    const id = `${Date.now()}-${Math.random()}`;
    const tagged = { ...c, Request: { ...(c.Request ?? {}), Headers: { ...(c.Request?.Headers ?? {}), [MIRROR_ID_HEADER]: id } } };
    const res = profile === 'gateway' ? await this.sendGateway(tagged) : await this.sendMesh(tagged);
    if (res.status >= 400) return `the tagged request for the mirror check got ${res.status}`;
    for (const m of targets) {
      const instances = [...this.appPorts.keys()].filter((i) => i.replace(/-\d+$/, '') === m.BackendRef.Name);
      if (instances.length === 0) return `no local instance of mirror backend ${m.BackendRef.Name}`;
      const got = await waitFor(`the mirrored copy at ${m.BackendRef.Name}`, async () => {
        for (const i of instances) {
          const log = (await (await fetch(`http://127.0.0.1:${this.appPort(i)}${LOG_PATH}`)).json()) as string[];
          if (log.includes(id)) return true;
        }
        return false;
      }, 10_000).catch(() => false);
      if (!got) return `expected a mirrored copy at ${m.BackendRef.Name}, none arrived in 10 s`;
    }
    return null;
  }

  /**
   * The suite's weight check: `first` must hold, then 500 requests, 10 at a time, each backend's share within
   * 0.05 of its weight; 10 tries. `sendOne` answers the pod that served one request (null: no echo).
   */
  private async weighted(weights: Record<string, number>, first: () => Promise<string | null>, sendOne: () => Promise<{ pod: string } | null>): Promise<string | null> {
    const held = await first();
    if (held !== null) return held;
    let last = '';
    for (let attempt = 0; attempt < 10; attempt++) {
      const seen = new Map<string, number>();
      let sent = 0;
      let error: string | null = null;
      const worker = async () => {
        while (sent < 500 && error === null) {
          sent++;
          let echo: { pod: string } | null;
          try {
            echo = await sendOne();
          } catch (err) {
            error = (err as Error).message;
            return;
          }
          if (!echo) {
            error = 'a response without an echo';
            return;
          }
          const backend = echo.pod.replace(/-\d+$/, '');
          if (!(backend in weights)) error = `request was handled by an unexpected pod ${echo.pod}`;
          seen.set(backend, (seen.get(backend) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 10 }, worker));
      if (error !== null) return error;
      const errs: string[] = [];
      const active = Object.values(weights).filter((w) => w > 0).length;
      if (seen.size !== active) errs.push(`expected ${active} backends to receive traffic, but got ${seen.size}`);
      for (const [backend, want] of Object.entries(weights)) {
        const got = (seen.get(backend) ?? 0) / 500;
        if (Math.abs(got - want) > 0.05) errs.push(`backend ${backend} got ${got}, want ${want} ± 0.05`);
      }
      if (errs.length === 0) return null;
      last = errs.join('; ');
    }
    return last;
  }

  /** The WebSocket test's round trip: every message answered with the same bytes and kind. */
  private async webSocketRoundTrip(w: NonNullable<CaseData['WebSocket']>): Promise<string | null> {
    const ws = new WebSocket(`ws://127.0.0.1:${this.ingressPort}${w.Path}`, { origin: w.Origin, handshakeTimeout: 5000 });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`failed to dial: status ${res.statusCode}${res.headers['x-devmesh-error'] ? ` (x-devmesh-error: ${String(res.headers['x-devmesh-error'])})` : ''}`)));
      });
      for (const m of w.Messages) {
        const out = 'Text' in m ? m.Text : Buffer.from(m.Binary);
        const reply = new Promise<{ data: Buffer; binary: boolean }>((resolve, reject) => {
          ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary }));
          ws.once('close', () => reject(new Error('closed before the reply')));
          setTimeout(() => reject(new Error('no reply in 5 s')), 5000).unref();
        });
        ws.send(out, { binary: !('Text' in m) });
        const got = await reply;
        if ('Text' in m && (got.binary || got.data.toString('utf8') !== m.Text)) return `unexpected reply - want: ${m.Text} got: ${got.binary ? 'a binary frame' : got.data.toString('utf8')}`;
        if ('Binary' in m && (!got.binary || !got.data.equals(Buffer.from(m.Binary)))) return `unexpected reply - want: ${JSON.stringify(m.Binary)} got: ${got.binary ? JSON.stringify([...got.data]) : 'a text frame'}`;
      }
      return null;
    } finally {
      ws.terminate();
    }
  }

  private sendGateway(c: CaseData): Promise<ClientResponse> {
    const r = c.Request ?? {};
    if (r.Protocol === 'H2C_PRIOR_KNOWLEDGE') return sendH2c(`http://127.0.0.1:${this.ingressPort}`, { method: r.Method || 'GET', path: r.Path || '/', host: r.Host || `127.0.0.1:${this.ingressPort}`, headers: requestHeaders(c) });
    return send(`http://127.0.0.1:${this.ingressPort}`, { method: r.Method || 'GET', path: r.Path || '/', host: r.Host || `127.0.0.1:${this.ingressPort}`, headers: requestHeaders(c) });
  }

  private async sendMesh(c: CaseData): Promise<ClientResponse> {
    const r = c.Request ?? {};
    const host = (r.Host || 'echo').replace(/:80$/, '');
    const grpc = r.Protocol?.toLowerCase() === 'grpc';
    // A gRPC request carries the case's headers as metadata (the suite's -H), and calls GrpcEcho/Echo where
    // Istio's echo client calls its own EchoTestService: the mesh routes match no gRPC method.
    const body = JSON.stringify({ upstream: 'echo', protocol: grpc ? 'grpc' : 'http', method: r.Method || 'GET', path: grpc ? `/${GRPC_SERVICE}/Echo` : r.Path || '/', host, headers: grpc ? { ...(r.Headers ?? {}) } : requestHeaders(c) });
    const from = `${c.Client ?? 'echo-v1'}-0`;
    const client = await fetch(`http://127.0.0.1:${this.appPort(from)}${CLIENT_PATH}`, { method: 'POST', body, signal: AbortSignal.timeout(15_000) });
    if (client.status !== 200) throw new Error(`the ${from} client could not send: ${client.status} ${await client.text()}`);
    return (await client.json()) as ClientResponse;
  }

  /** conformance/utils/http CompareRoundTrip. */
  private compareGateway(c: CaseData, res: ClientResponse): string | null {
    const codes = statusCodes(c);
    if (!codes.includes(res.status)) return `expected status code to be one of ${codes.join(', ')}, got ${res.status}${errorOf(res)}`;
    if (res.status === 200 || res.status === 204) {
      const echo = echoOf(res);
      if (!echo) return `status ${res.status} without an echo report`;
      const want = expectedRequest(c);
      if (want.Host && want.Host !== echo.host) return `expected host to be ${want.Host}, got ${echo.host}`;
      if ((want.Path ?? '') !== echo.path) return `expected path to be ${want.Path ?? ''}, got ${echo.path}`;
      if ((want.Method || 'GET') !== echo.method) return `expected method to be ${want.Method || 'GET'}, got ${echo.method}`;
      if ((c.Namespace ?? '') !== echo.namespace) return `expected namespace to be ${c.Namespace ?? ''}, got ${echo.namespace}`;
      return this.compareHeaders(c, res, echo) ?? (echo.pod.startsWith(c.Backend ?? '') ? null : `expected pod name to start with ${c.Backend}, got ${echo.pod}`);
    }
    if ([301, 302, 303, 307, 308].includes(res.status)) return this.compareRedirect(c, res);
    return null;
  }

  /** conformance/utils/echo MeshPod compareRequest, and the redirect's Location as the Gateway suite checks it. */
  private compareMesh(c: CaseData, res: ClientResponse): string | null {
    const codes = statusCodes(c);
    if (!codes.includes(res.status)) return `wanted status code to be one of ${codes.join(', ')}, got ${res.status}${errorOf(res)}`;
    if ([301, 302, 303, 307, 308].includes(res.status)) return this.compareRedirect(c, res);
    const echo = echoOf(res);
    const headersWrong = this.compareHeaders(c, res, echo);
    if (headersWrong) return headersWrong;
    const pod = echo?.pod ?? '';
    return pod.startsWith(c.Backend ?? '') ? null : `expected pod name to start with ${c.Backend}, got ${pod || '(no echo)'}`;
  }

  private compareHeaders(c: CaseData, res: ClientResponse, echo: EchoReport | null): string | null {
    const want = c.ExpectedRequest ? { ...c.ExpectedRequest.Request, AbsentHeaders: c.ExpectedRequest.AbsentHeaders } : null;
    const got = lower(echo?.headers ?? {});
    for (const [name, value] of Object.entries(want?.Headers ?? {})) {
      const v = got[name.toLowerCase()];
      if (v === undefined) return `expected ${name} header to be set, actual headers: ${JSON.stringify(got)}`;
      if (v.join(',') !== value) return `expected ${name} header to be set to ${value}, got ${v.join(',')}`;
    }
    for (const name of want?.AbsentHeaders ?? []) if (got[name.toLowerCase()] !== undefined) return `expected ${name} header to not be set, got ${got[name.toLowerCase()]!.join(',')}`;
    const resp = c.Response ?? {};
    const strip = (s: string) => (resp.IgnoreWhitespace ? s.replaceAll(' ', '') : s);
    for (const [name, value] of Object.entries(resp.Headers ?? {})) {
      const v = headerText(res, name);
      if (v === undefined) return `expected response header ${name} to be set`;
      if (strip(v) !== strip(value)) return `expected response header ${name} to be ${value}, got ${v}`;
    }
    for (const [name, values] of Object.entries(resp.ValidHeaderValues ?? {})) {
      const v = headerText(res, name);
      if (v === undefined || !values.map(strip).includes(strip(v))) return `expected response header ${name} to be one of ${values.join(' | ')}, got ${v}`;
    }
    for (const name of resp.AbsentHeaders ?? []) if (headerText(res, name) !== undefined) return `expected response header ${name} to not be set, got ${headerText(res, name)}`;
    return null;
  }

  private compareRedirect(c: CaseData, res: ClientResponse): string | null {
    const want = c.RedirectRequest;
    if (!want) return null;
    const location = res.headers.location;
    if (typeof location !== 'string') return 'a redirect without a Location';
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      return `Location ${location} is not an absolute URL`;
    }
    const scheme = url.protocol.replace(/:$/, '');
    // URL drops a scheme's default port: read the port as written.
    const port = /^[a-z]+:\/\/(?:\[[^\]]*\]|[^/:]*):(\d+)/i.exec(location)?.[1] ?? '';
    const host = url.hostname;
    if ((want.Host || host) !== host) return `expected redirected hostname to be ${want.Host}, got ${host}`;
    if (!want.Port) {
      const ok = scheme === 'http' ? ['', '80', String(this.ingressPort)] : scheme === 'https' ? ['', '443'] : [port];
      if (!ok.includes(port)) return `for ${scheme} scheme, expected redirected port to be ${ok.filter(Boolean).join(' or ')} or not set, got ${port}`;
    } else if (want.Port !== port) return `expected redirected port to be ${want.Port}, got ${port || '(none)'}`;
    if ((want.Scheme || 'http') !== scheme) return `expected redirected scheme to be ${want.Scheme || 'http'}, got ${scheme}`;
    const path = want.Path || (c.Request?.Path ?? '/').split('?')[0]!;
    if (path !== url.pathname) return `expected redirected path to be ${path}, got ${url.pathname}`;
    return null;
  }
}

function parseCase(data: TestData, raw: unknown, i: number): CaseData {
  const parsed = CaseData.safeParse(raw);
  if (!parsed.success) throw new Error(`test/conformance/cases/${data.test}.json case ${i}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function isGrpcGatewayTest(data: TestData): boolean {
  return data.profile === 'gateway' && data.features.includes('SupportGRPCRoute');
}

function grpcMethod(c: GrpcCaseData): EchoMethod {
  return c.EchoRequest ? 'Echo' : c.EchoTwoRequest ? 'EchoTwo' : 'EchoThree';
}

function grpcCall(c: GrpcCaseData): { method: EchoMethod; authority: string | undefined; metadata: Record<string, string> | undefined } {
  return { method: grpcMethod(c), authority: c.RequestMetadata?.Authority || undefined, metadata: c.RequestMetadata?.Metadata };
}

/** conformance/utils/grpc ExpectedResponse.GetTestCaseName. */
function grpcCaseName(c: GrpcCaseData, i: number): string {
  if (c.TestCaseName) return c.TestCaseName;
  const md = c.RequestMetadata?.Metadata ?? {};
  const keys = Object.keys(md).sort();
  const headers = keys.length ? ` with headers '{${keys.map((k) => `${k}:${md[k]}`).join(',')}}'` : '';
  const req = `${i} request to '${c.RequestMetadata?.Authority ?? ''}/${GRPC_SERVICE}/${grpcMethod(c)}'${headers}`;
  const code = codeOf(c.Response?.Code ?? 'OK');
  return c.Backend ? `${req} should go to ${c.Backend}` : `${req} should receive a ${codeName(code)} (${code})`;
}

/** conformance/utils/grpc compareResponse: the code; when OK, the method, the namespace (when set) and the pod. */
function compareGrpc(c: GrpcCaseData, r: GrpcResult): string | null {
  const want = codeOf(c.Response?.Code ?? 'OK');
  if (r.code !== want) return `expected status code to be ${codeName(want)} (${want}), but got ${r.codeName} (${r.code})${r.details ? `: ${r.details}` : ''}`;
  if (r.code !== 0) return null;
  const a = r.response?.assertions;
  const method = `/${GRPC_SERVICE}/${grpcMethod(c)}`;
  if (a?.fullyQualifiedMethod !== method) return `expected path to be ${method}, got ${a?.fullyQualifiedMethod}`;
  const ns = a.context?.namespace ?? '';
  if (c.Namespace && c.Namespace !== ns) return `expected namespace to be ${c.Namespace}, got ${ns}`;
  const pod = a.context?.pod ?? '';
  return pod.startsWith(c.Backend ?? '') ? null : `expected pod name to start with ${c.Backend}, got ${pod}`;
}

function caseName(c: CaseData, i: number): string {
  if (c.TestCaseName) return c.TestCaseName;
  const r = c.Request ?? {};
  return `${i} request to '${r.Host ?? ''}${r.Path ?? ''}'${r.Headers ? ' with headers' : ''}${c.Backend ? ` should go to ${c.Backend}` : ` should receive one of ${statusCodes(c).join(',')}`}`;
}

function statusCodes(c: CaseData): number[] {
  const codes = [...(c.Response?.StatusCodes ?? [])];
  if (c.Response?.StatusCode && !codes.includes(c.Response.StatusCode)) codes.push(c.Response.StatusCode);
  return codes.length ? codes : [200];
}

function expectedRequest(c: CaseData): z.infer<typeof RequestData> {
  return c.ExpectedRequest ? { ...(c.ExpectedRequest.Request ?? {}) } : { ...(c.Request ?? {}) };
}

function requestHeaders(c: CaseData): Record<string, string> {
  const out: Record<string, string> = { ...(c.Request?.Headers ?? {}) };
  out['X-Echo-Set-Header'] = Object.entries(c.BackendSetResponseHeaders ?? {})
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
  return out;
}

/** A retry case's probe: Request.Path with the simulation's query and a new uuid (url.Values.Encode: keys sorted). */
function withRetrySimulation(c: CaseData): CaseData {
  if (!c.RetrySimulation) return c;
  const q = new URLSearchParams(Object.entries({ ...c.RetrySimulation, uuid: randomUUID() }).sort(([a], [b]) => a.localeCompare(b)));
  return { ...c, Request: { ...(c.Request ?? {}), Path: `${c.Request?.Path ?? '/'}?${q.toString()}` } };
}

/** conformance/utils/roundtripper's H2C_PRIOR_KNOWLEDGE: HTTP/2 over cleartext, no upgrade. */
function sendH2c(base: string, r: { method: string; path: string; host: string; headers: Record<string, string> }): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(base);
    session.on('error', reject);
    const headers: http2.OutgoingHttpHeaders = { ':method': r.method, ':path': r.path, ':authority': r.host };
    for (const [k, v] of Object.entries(r.headers)) headers[k.toLowerCase()] = v;
    const stream = session.request(headers, { endStream: true });
    stream.setTimeout(10_000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    let status = 0;
    const raw: string[] = [];
    const out: Record<string, string | string[]> = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      for (const [k, v] of Object.entries(h)) {
        if (k.startsWith(':') || v === undefined) continue;
        out[k] = v;
        for (const one of Array.isArray(v) ? v : [String(v)]) raw.push(k, one);
      }
    });
    let body = '';
    stream.setEncoding('utf8').on('data', (d: string) => (body += d));
    stream.on('end', () => {
      session.close();
      resolve({ status, headers: out, raw, body });
    });
    stream.on('error', (err) => {
      session.destroy();
      reject(err);
    });
  });
}

function withJitter(c: CaseData): CaseData {
  return { ...c, Request: { ...(c.Request ?? {}), Headers: { 'X-Jitter': String(Math.random()) } } };
}

function echoOf(res: ClientResponse): EchoReport | null {
  try {
    const v = JSON.parse(res.body) as EchoReport;
    return typeof v.pod === 'string' ? v : null;
  } catch {
    return null;
  }
}

function errorOf(res: ClientResponse): string {
  const e = res.headers['x-devmesh-error'];
  return e ? ` (x-devmesh-error: ${String(e)})` : '';
}

/** A response header's values joined by ",", as the suite joins Go's []string. */
function headerText(res: ClientResponse, name: string): string | undefined {
  const key = name.toLowerCase();
  const values = res.raw.filter((_, i) => i % 2 === 1 && res.raw[i - 1]!.toLowerCase() === key);
  return values.length ? values.join(',') : undefined;
}

function lower(h: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(h)) (out[k.toLowerCase()] ??= []).push(...v);
  return out;
}

export interface Totals {
  tests: number;
  applicable: number;
  cases: number;
  passed: number;
  failed: number;
  /** Of the failed cases, those of known gaps. */
  knownGapFailures: number;
  notApplicable: number;
}

export function totalsOf(results: TestResult[]): Totals {
  const all = results.flatMap((r) => r.cases);
  return {
    tests: results.length,
    applicable: results.filter((r) => r.notApplicable === null).length,
    cases: all.length,
    passed: all.filter((c) => c.outcome === 'passed').length,
    failed: all.filter((c) => c.outcome === 'failed').length,
    knownGapFailures: results.filter((r) => r.knownGap !== null).flatMap((r) => r.cases).filter((c) => c.outcome === 'failed').length,
    notApplicable: all.filter((c) => c.outcome === 'not-applicable').length,
  };
}

/** The table `npm run conformance` prints. */
export function formatTable(results: TestResult[]): string {
  const rows = results.map((r) => {
    const n = (o: CaseResult['outcome']) => r.cases.filter((c) => c.outcome === o).length;
    const why = r.notApplicable ?? [...new Set(r.cases.filter((c) => c.outcome === 'not-applicable').map((c) => c.detail))].join('; ');
    const failed = r.knownGap !== null && n('failed') > 0 ? `${n('failed')} (known gap: ${r.knownGap})` : String(n('failed'));
    const na = r.notApplicable !== null ? `${r.cases.length ? String(r.cases.length) : 'all'} (${why})` : n('not-applicable') ? `${n('not-applicable')} (${why})` : '0';
    return [r.test, String(r.cases.length), String(n('passed')), failed, na];
  });
  const head = ['test', 'cases', 'passed', 'failed', 'not applicable (why)'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i >= 3 ? 6 : r[i]!.length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === 4 ? c : c.padEnd(widths[i]!))).join('  ');
  const t = totalsOf(results);
  const failures = results.flatMap((r) => r.cases.filter((c) => c.outcome === 'failed').map((c) => `  ${r.knownGap !== null ? '(known gap) ' : ''}${r.test} › ${c.name}: ${c.detail}`));
  return [
    line(head),
    ...rows.map(line),
    '',
    `${t.tests} tests (${t.applicable} applicable), ${t.cases} cases: ${t.passed} passed, ${t.failed} failed (${t.knownGapFailures} of them known gaps), ${t.notApplicable} not applicable`,
    ...(failures.length ? ['', 'failed cases:', ...failures] : []),
  ].join('\n');
}
