// Istio's published Grafana dashboard, run against real sidecars: productpage's sidecar calls reviews'
// sidecar over mTLS, both are scraped twice (before and after traffic, as Prometheus would), and the
// dashboard's own PromQL is evaluated on those scrapes (./promql-subset.ts evaluates the subset the
// dashboard uses). Every query below must return data, with the values the traffic implies.
//
// Queries transcribed from Istio's "Istio Workload Dashboard", istio/istio
// manifests/addons/dashboards/istio-workload-dashboard.json at commit 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c:
// the template variables' queries (namespace, srcns, srcwl, dstsvc) and the panels' targets, verbatim
// except for the Grafana variables, which are substituted as Grafana would ($__all as ".*").
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { clientConfig, cluster, endpoint, httpClient, productpageToReviews, route, serverConfig, SidecarProcess, startApp, tempHome, TestMesh } from './helpers.js';
import type { SidecarMessage } from '../../proxy/protocol/index.js';
import { evaluate, parseExposition, selectorsOf, type Sample, type Scrape } from './promql-subset.js';
import { METRIC_LABELS } from '../../proxy/protocol/index.js';

const VARIABLES = {
  namespace: 'query_result(sum(istio_requests_total) by (destination_workload_namespace) or sum(istio_tcp_sent_bytes_total) by (destination_workload_namespace))',
  srcns:
    'query_result(sum(istio_requests_total{reporter=~"$qrep", destination_workload="$workload", destination_workload_namespace=~"$namespace"}) by (source_workload_namespace) or sum(istio_tcp_sent_bytes_total{reporter=~"$qrep", destination_workload="$workload", destination_workload_namespace=~"$namespace"}) by (source_workload_namespace))',
  srcwl:
    'query_result(sum(istio_requests_total{reporter=~"$qrep", destination_workload="$workload", destination_workload_namespace=~"$namespace", source_workload_namespace=~"$srcns"}) by (source_workload) or sum(istio_tcp_sent_bytes_total{reporter=~"$qrep", destination_workload="$workload", destination_workload_namespace=~"$namespace", source_workload_namespace=~"$srcns"}) by (source_workload))',
  dstsvc:
    'query_result(sum(istio_requests_total{reporter="source", source_workload=~"$workload", source_workload_namespace=~"$namespace"}) by (destination_service) or sum(istio_tcp_sent_bytes_total{reporter="source", source_workload=~"$workload", source_workload_namespace=~"$namespace"}) by (destination_service))',
};

/** Panels of the inbound side ($workload = reviews, $qrep = destination), by panel title. */
const INBOUND: Record<string, string> = {
  'Incoming Request Volume': 'round(sum(irate(istio_requests_total{reporter=~"$qrep",destination_workload_namespace=~"$namespace",destination_workload=~"$workload"}[$__rate_interval])), 0.001)',
  'Incoming Success Rate (non-5xx responses)':
    'sum(irate(istio_requests_total{reporter=~"$qrep",destination_workload_namespace=~"$namespace",destination_workload=~"$workload",response_code!~"5.*"}[$__rate_interval])) / sum(irate(istio_requests_total{reporter=~"$qrep",destination_workload_namespace=~"$namespace",destination_workload=~"$workload"}[$__rate_interval]))',
  'Request Duration':
    '(histogram_quantile(0.50, sum(irate(istio_request_duration_milliseconds_bucket{reporter=~"$qrep",destination_workload=~"$workload", destination_workload_namespace=~"$namespace"}[$__rate_interval])) by (le)) / 1000) or histogram_quantile(0.50, sum(irate(istio_request_duration_seconds_bucket{reporter=~"$qrep",destination_workload=~"$workload", destination_workload_namespace=~"$namespace"}[$__rate_interval])) by (le))',
  'Incoming Requests By Source And Response Code':
    'round(sum(irate(istio_requests_total{connection_security_policy="mutual_tls", destination_workload_namespace=~"$namespace", destination_workload=~"$workload", reporter=~"$qrep", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, response_code), 0.001)',
  'Incoming Success Rate (non-5xx responses) By Source':
    'sum(irate(istio_requests_total{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_workload_namespace=~"$namespace", destination_workload=~"$workload",response_code!~"5.*", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace) / sum(irate(istio_requests_total{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_workload_namespace=~"$namespace", destination_workload=~"$workload", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace)',
  'Incoming Request Duration By Source':
    '(histogram_quantile(0.99, sum(irate(istio_request_duration_milliseconds_bucket{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_workload=~"$workload", destination_workload_namespace=~"$namespace", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, le)) / 1000) or histogram_quantile(0.99, sum(irate(istio_request_duration_seconds_bucket{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_workload=~"$workload", destination_workload_namespace=~"$namespace", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, le))',
  'Incoming Request Size By Source':
    'histogram_quantile(0.50, sum(irate(istio_request_bytes_bucket{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_workload=~"$workload", destination_workload_namespace=~"$namespace", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, le))',
  'Response Size By Source':
    'histogram_quantile(0.50, sum(irate(istio_response_bytes_bucket{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_workload=~"$workload", destination_workload_namespace=~"$namespace", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace, le))',
};

/** Panels of the outbound side ($workload = productpage). */
const OUTBOUND: Record<string, string> = {
  'Outgoing Requests By Destination And Response Code':
    'round(sum(irate(istio_requests_total{destination_principal=~"spiffe.*", source_workload_namespace=~"$namespace", source_workload=~"$workload", reporter="source", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service, response_code), 0.001)',
  'Outgoing Success Rate (non-5xx responses) By Destination':
    'sum(irate(istio_requests_total{reporter="source", connection_security_policy="mutual_tls", source_workload_namespace=~"$namespace", source_workload=~"$workload",response_code!~"5.*", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service) / sum(irate(istio_requests_total{reporter="source", connection_security_policy="mutual_tls", source_workload_namespace=~"$namespace", source_workload=~"$workload", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service)',
  'Outgoing Request Duration By Destination':
    '(histogram_quantile(0.50, sum(irate(istio_request_duration_milliseconds_bucket{reporter="source", connection_security_policy="mutual_tls", source_workload=~"$workload", source_workload_namespace=~"$namespace", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service, le)) / 1000) or histogram_quantile(0.50, sum(irate(istio_request_duration_seconds_bucket{reporter="source", connection_security_policy="mutual_tls", source_workload=~"$workload", source_workload_namespace=~"$namespace", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service, le))',
  'Outgoing Request Size By Destination':
    'histogram_quantile(0.50, sum(irate(istio_request_bytes_bucket{reporter="source", connection_security_policy="mutual_tls", source_workload=~"$workload", source_workload_namespace=~"$namespace", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service, le))',
  'Response Size By Destination':
    'histogram_quantile(0.50, sum(irate(istio_response_bytes_bucket{reporter="source", connection_security_policy="mutual_tls", source_workload=~"$workload", source_workload_namespace=~"$namespace", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service, le))',
};

/** TCP panels: inbound ($workload = db, $qrep = destination) and outbound ($workload = caller). */
const TCP_INBOUND: Record<string, string> = {
  'TCP Server Traffic':
    'sum(irate(istio_tcp_sent_bytes_total{reporter=~"$qrep", destination_workload_namespace=~"$namespace", destination_workload=~"$workload"}[$__rate_interval])) + sum(irate(istio_tcp_received_bytes_total{reporter=~"$qrep", destination_workload_namespace=~"$namespace", destination_workload=~"$workload"}[$__rate_interval]))',
  'Bytes Received from Incoming TCP Connection':
    'round(sum(irate(istio_tcp_received_bytes_total{reporter=~"$qrep", connection_security_policy="mutual_tls", destination_workload_namespace=~"$namespace", destination_workload=~"$workload", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace), 0.001)',
  'Bytes Sent to Incoming TCP Connection':
    'round(sum(irate(istio_tcp_sent_bytes_total{connection_security_policy="mutual_tls", reporter=~"$qrep", destination_workload_namespace=~"$namespace", destination_workload=~"$workload", source_workload=~"$srcwl", source_workload_namespace=~"$srcns"}[$__rate_interval])) by (source_workload, source_workload_namespace), 0.001)',
};
const TCP_OUTBOUND: Record<string, string> = {
  'TCP Client Traffic':
    'sum(irate(istio_tcp_sent_bytes_total{reporter=~"$qrep", source_workload_namespace=~"$namespace", source_workload=~"$workload"}[$__rate_interval])) + sum(irate(istio_tcp_received_bytes_total{reporter=~"$qrep", source_workload_namespace=~"$namespace", source_workload=~"$workload"}[$__rate_interval]))',
  'Bytes Sent on Outgoing TCP Connection':
    'round(sum(irate(istio_tcp_received_bytes_total{connection_security_policy="mutual_tls", reporter="source", source_workload_namespace=~"$namespace", source_workload=~"$workload", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service), 0.001)',
  'Bytes Received from Outgoing TCP Connection':
    'round(sum(irate(istio_tcp_sent_bytes_total{reporter="source", connection_security_policy="mutual_tls", source_workload_namespace=~"$namespace", source_workload=~"$workload", destination_service=~"$dstsvc"}[$__rate_interval])) by (destination_service), 0.001)',
};

/** Runs panels with their variables; every one must return finite data. */
function runPanels(panels: Record<string, string>, vars: Record<string, string>, scrapes: readonly [Scrape, Scrape], results: Map<string, Sample[]>): void {
  for (const [title, expr] of Object.entries(panels)) {
    const query = substitute(expr, vars);
    const samples = vector(evaluate(query, scrapes));
    assert.ok(samples.length > 0, `${title}: no data\n${query}\nselectors: ${JSON.stringify(selectorsOf(query))}`);
    for (const s of samples) assert.ok(Number.isFinite(s.value), `${title}: ${JSON.stringify(s)}`);
    results.set(title, samples);
  }
}

function scrapeOnce(sidecar: SidecarProcess, id: number): Promise<string> {
  sidecar.send({ type: 'scrape', id });
  return sidecar
    .waitFor(() => sidecar.messages.find((m): m is Extract<SidecarMessage, { type: 'metrics' }> => m.type === 'metrics' && m.id === id), 10_000, `metrics reply ${id}`)
    .then((m) => m.text);
}

/** Both sidecars, as one Prometheus would see them. */
async function scrape(sidecars: SidecarProcess[], id: number): Promise<Scrape> {
  const texts = await Promise.all(sidecars.map((s, i) => scrapeOnce(s, id * 10 + i)));
  return { atMs: Date.now(), series: texts.flatMap(parseExposition) };
}

function substitute(expr: string, vars: Record<string, string>): string {
  return expr.replace(/\$(__rate_interval|[a-z]+)/g, (_, name: string) => (name === '__rate_interval' ? '1m' : (vars[name] ?? `$${name}`)));
}

/** A variable's values, as Grafana reads them from a query_result (the by-label of each sample), joined for =~. */
function variable(samples: Sample[], label: string): string {
  const values = samples.map((s) => s.labels[label]).filter((v): v is string => v !== undefined);
  assert.ok(values.length > 0, `variable over ${label} has no values`);
  return values.join('|');
}

describe("Istio's workload dashboard against real sidecars", () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('answers every transcribed query with the traffic that was sent', { timeout: 60_000 }, async (t) => {
    const body = 'x'.repeat(700);
    const app = await startApp(t, (req, res) => {
      req.resume();
      req.on('end', () => {
        const fail = req.url?.startsWith('/fail') === true;
        res.writeHead(fail ? 503 : 200, { 'content-type': 'text/plain', 'content-length': String(body.length) });
        res.end(body);
      });
    });
    const { client, server, base } = await productpageToReviews(t, mesh, app.port);
    const get = httpClient(t);
    // One request first, so the first scrape already has the series (Prometheus' rate needs two samples).
    assert.equal((await get(`${base}/ok`)).status, 200);
    const before = await scrape([client, server], 1);
    const upload = 'u'.repeat(300);
    for (let i = 0; i < 6; i++) assert.equal((await get(`${base}/ok/${i}`, { method: 'POST', body: upload })).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await get(`${base}/fail/${i}`)).status, 503);
    // Far enough apart that the rates are not dominated by clock resolution.
    await new Promise((r) => setTimeout(r, 1100));
    const now = await scrape([client, server], 2);
    const scrapes = [before, now] as const;

    // Every Istio standard label is on every request series.
    for (const s of now.series.filter((x) => x.labels.__name__ === 'istio_requests_total')) {
      for (const label of METRIC_LABELS) assert.ok(label in s.labels, `istio_requests_total lacks ${label}: ${JSON.stringify(s.labels)}`);
    }
    for (const name of ['istio_request_bytes_bucket', 'istio_response_bytes_bucket', 'istio_request_duration_milliseconds_bucket']) {
      assert.ok(
        now.series.some((s) => s.labels.__name__ === name),
        `${name} is exported`,
      );
    }

    // The dashboard's variables, from its own queries.
    const namespace = variable(vector(evaluate(VARIABLES.namespace, scrapes)), 'destination_workload_namespace');
    assert.equal(namespace, 'default');
    const inboundVars: Record<string, string> = { namespace, workload: 'reviews', qrep: 'destination' };
    inboundVars.srcns = variable(vector(evaluate(substitute(VARIABLES.srcns, inboundVars), scrapes)), 'source_workload_namespace');
    inboundVars.srcwl = variable(vector(evaluate(substitute(VARIABLES.srcwl, inboundVars), scrapes)), 'source_workload');
    assert.equal(inboundVars.srcwl, 'productpage');
    const outboundVars: Record<string, string> = { namespace, workload: 'productpage', qrep: 'source' };
    outboundVars.dstsvc = variable(vector(evaluate(substitute(VARIABLES.dstsvc, outboundVars), scrapes)), 'destination_service');
    assert.equal(outboundVars.dstsvc, 'reviews');

    const results = new Map<string, Sample[]>();
    runPanels(INBOUND, inboundVars, scrapes, results);
    runPanels(OUTBOUND, outboundVars, scrapes, results);

    // The values say what the traffic was: 8 requests between the scrapes, 2 of them 503s.
    const volume = results.get('Incoming Request Volume')![0]!.value;
    assert.ok(volume > 0, String(volume));
    assert.ok(Math.abs(results.get('Incoming Success Rate (non-5xx responses)')![0]!.value - 6 / 8) < 1e-9);
    const bySource = results.get('Incoming Requests By Source And Response Code')!;
    assert.deepEqual(bySource.map((s) => `${s.labels.source_workload}/${s.labels.source_workload_namespace}/${s.labels.response_code}`).sort(), ['productpage/default/200', 'productpage/default/503']);
    assert.ok(Math.abs(results.get('Outgoing Success Rate (non-5xx responses) By Destination')![0]!.value - 6 / 8) < 1e-9);
    assert.deepEqual(results.get('Outgoing Requests By Destination And Response Code')!.map((s) => s.labels.response_code).sort(), ['200', '503']);
    // Sizes: the median request is a POST with a 300-byte body and its headers (Envoy's buckets: 250, 500,
    // 1000); the median response is 700 bytes of body plus headers.
    for (const title of ['Incoming Request Size By Source', 'Outgoing Request Size By Destination']) {
      const size = results.get(title)![0]!.value;
      assert.ok(size > 250 && size <= 1000, `${title}: ${size}`);
    }
    for (const title of ['Response Size By Source', 'Response Size By Destination']) {
      const size = results.get(title)![0]!.value;
      assert.ok(size > 500 && size <= 2500, `${title}: ${size}`);
    }
    const p50 = results.get('Request Duration')![0]!.value;
    assert.ok(p50 > 0 && p50 < 10, `p50 in seconds: ${p50}`);

    // The plaintext panels' selectors discriminate: no non-mTLS traffic was sent, and none is shown.
    const plain = substitute(INBOUND['Incoming Requests By Source And Response Code']!.replace('connection_security_policy="mutual_tls"', 'connection_security_policy!="mutual_tls"'), inboundVars);
    assert.equal(vector(evaluate(plain, scrapes)).length, 0);
  });

  it('answers the TCP panels for a tcp service, with Istio’s TCP labels', { timeout: 60_000 }, async (t) => {
    const echo = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => echo.close(() => resolve())));
    const server = SidecarProcess.start(t, mesh.home);
    const base = serverConfig({ tls: mesh.tls('db'), service: 'db', appPort: (echo.address() as net.AddressInfo).port });
    const serverPorts = await server.apply({ ...base, inbound: { ...base.inbound!, protocol: 'tcp' } });
    const client = SidecarProcess.start(t, mesh.home);
    const ports = await client.apply(
      clientConfig({
        tls: mesh.tls('caller'),
        service: 'caller',
        outbound: [{ service: 'db', port: 0, routes: [route({ destinations: [{ service: 'db', weight: 100 }] })] }],
        clusters: [{ ...cluster('db', [endpoint('db', 'v1', serverPorts.inbound!)]), protocol: 'tcp' }],
      }),
    );
    /** One connection through the sidecars: `payload` out, echoed back, closed. */
    const roundTrip = (payload: string) =>
      new Promise<void>((resolve, reject) => {
        const sock = net.connect(ports.outbound.db!, '127.0.0.1');
        let got = '';
        sock.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.length === payload.length) sock.end();
        });
        sock.on('close', () => (got === payload ? resolve() : reject(new Error(`echoed ${got.length} of ${payload.length} bytes`))));
        sock.on('error', reject);
        sock.setTimeout(10_000, () => sock.destroy(new Error('timeout')));
        sock.write(payload);
      });
    /** TCP byte counters are added when a connection closes, at each end: wait for both ends to count it. */
    const closedAtBoth = async (count: number, id: number): Promise<Scrape> => {
      for (let attempt = 0; ; attempt++) {
        const s = await scrape([client, server], id * 100 + attempt);
        const closed = s.series.filter((x) => x.labels.__name__ === 'istio_tcp_connections_closed_total').map((x) => x.value);
        if (closed.length === 2 && closed.every((v) => v >= count)) return s;
        if (attempt > 50) assert.fail(`connections closed: ${JSON.stringify(closed)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await roundTrip('first');
    const before = await closedAtBoth(1, 3);
    await roundTrip('y'.repeat(1000));
    await new Promise((r) => setTimeout(r, 1000));
    const now = await closedAtBoth(2, 4);
    const scrapes = [before, now] as const;
    for (const s of now.series.filter((x) => x.labels.__name__?.startsWith('istio_tcp_'))) {
      for (const label of METRIC_LABELS.filter((l) => l !== 'response_code' && l !== 'grpc_response_status')) assert.ok(label in s.labels, `${s.labels.__name__} lacks ${label}`);
      assert.equal(s.labels.request_protocol, 'tcp');
    }
    const inboundVars: Record<string, string> = { namespace: 'default', workload: 'db', qrep: 'destination' };
    inboundVars.srcns = variable(vector(evaluate(substitute(VARIABLES.srcns, inboundVars), scrapes)), 'source_workload_namespace');
    inboundVars.srcwl = variable(vector(evaluate(substitute(VARIABLES.srcwl, inboundVars), scrapes)), 'source_workload');
    assert.equal(inboundVars.srcwl, 'caller', 'the srcwl variable falls back to the TCP metric');
    const outboundVars: Record<string, string> = { namespace: 'default', workload: 'caller', qrep: 'source' };
    outboundVars.dstsvc = variable(vector(evaluate(substitute(VARIABLES.dstsvc, outboundVars), scrapes)), 'destination_service');
    assert.equal(outboundVars.dstsvc, 'db');
    const results = new Map<string, Sample[]>();
    runPanels(TCP_INBOUND, inboundVars, scrapes, results);
    runPanels(TCP_OUTBOUND, outboundVars, scrapes, results);
    // 1000 bytes each way between the scrapes, over about a second (irate: bytes per second).
    for (const [title, samples] of results) {
      const bytes = samples[0]!.value * (now.atMs - before.atMs) / 1000;
      const expected = title.endsWith('Traffic') ? 2000 : 1000;
      assert.ok(Math.abs(bytes - expected) < 1, `${title}: ${bytes} bytes, expected ${expected}`);
    }
    assert.equal(results.get('Bytes Received from Incoming TCP Connection')![0]!.labels.source_workload, 'caller');
  });
});


function vector(v: ReturnType<typeof evaluate>): Sample[] {
  assert.equal(v.kind, 'vector');
  return v.kind === 'vector' ? v.samples : [];
}
