// The mesh as a graph laid out by dagre (left to right, in the direction traffic flows): a node per
// service with its instances, versions, mTLS mode and restarts; an edge per caller → callee with the last
// minute's requests/s, success rate (the edge's colour) and p99, from the spans in the trace store.
import dagre from '@dagrejs/dagre';
import { useMemo } from 'react';
import type { EdgeStats, ServiceStatus } from '../../src/contract/api';
import { formatDuration, serviceColor } from '../format';

const NODE_W = 170;
const NODE_H = 78;
/** Room between ranks for an edge's label (two lines of at most ~17 characters at 10.5 px). */
const RANK_GAP = 120;

interface Props {
  services: ServiceStatus[];
  edges: EdgeStats[];
  /** Ingress services: a gateway node is drawn in front of them. */
  ingress: string[];
  onSelect(service: string): void;
}

/** The point halfway along a polyline, where its label goes. */
function midpoint(points: { x: number; y: number }[]): { x: number; y: number } {
  const seg = points.slice(1).map((p, i) => Math.hypot(p.x - points[i]!.x, p.y - points[i]!.y));
  let rest = seg.reduce((a, b) => a + b, 0) / 2;
  for (let i = 0; i < seg.length; i++) {
    const len = seg[i]!;
    if (rest <= len && len > 0) {
      const a = points[i]!;
      const b = points[i + 1]!;
      return { x: a.x + ((b.x - a.x) * rest) / len, y: a.y + ((b.y - a.y) * rest) / len };
    }
    rest -= len;
  }
  return points[0] ?? { x: 0, y: 0 };
}

export function successColor(rate: number | null): string {
  if (rate === null) return 'var(--idle)';
  if (rate >= 0.99) return 'var(--good)';
  if (rate >= 0.9) return 'var(--warn)';
  return 'var(--bad)';
}

export function TopologyGraph({ services, edges, ingress, onSelect }: Props) {
  const layout = useMemo(() => {
    const g = new dagre.graphlib.Graph({ multigraph: false });
    // Edge labels sit on their edge's middle rather than in a rank of their own (which made Bookinfo's
    // four ranks 1470 px wide); the rank gap is what a two-line label needs.
    g.setGraph({ rankdir: 'LR', nodesep: 28, ranksep: RANK_GAP, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(() => ({}));
    const names = new Set(services.map((s) => s.name));
    const hasIngress = ingress.length > 0 || edges.some((e) => e.source === 'ingress');
    if (hasIngress) g.setNode('ingress', { width: 110, height: 44 });
    for (const s of services) g.setNode(s.name, { width: NODE_W, height: NODE_H });
    // Declared upstreams give the graph its shape before any traffic; observed edges add what is live.
    const pairs = new Set<string>();
    for (const s of services) for (const u of s.upstreams) if (names.has(u)) pairs.add(`${s.name}\u0000${u}`);
    for (const i of ingress) if (names.has(i)) pairs.add(`ingress\u0000${i}`);
    for (const e of edges) if ((names.has(e.source) || e.source === 'ingress') && names.has(e.target)) pairs.add(`${e.source}\u0000${e.target}`);
    for (const p of pairs) {
      const [a, b] = p.split('\u0000') as [string, string];
      if (!g.hasNode(a)) g.setNode(a, { width: 110, height: 44 });
      g.setEdge(a, b, {});
    }
    dagre.layout(g);
    const graph = g.graph();
    return {
      width: (graph.width ?? 400) + 10,
      height: (graph.height ?? 200) + 10,
      nodes: g.nodes().map((n) => ({ name: n, ...(g.node(n) as { x: number; y: number; width: number; height: number }) })),
      edges: g.edges().map((e) => {
        const { points } = g.edge(e) as { points: { x: number; y: number }[] };
        return { source: e.v, target: e.w, points, label: midpoint(points) };
      }),
    };
  }, [services, edges, ingress]);

  const stats = new Map(edges.map((e) => [`${e.source}\u0000${e.target}`, e]));
  const byName = new Map(services.map((s) => [s.name, s]));

  return (
    // As wide as the panel and no wider than drawn: a graph wider than the panel is scaled down to fit, down
    // to 70% (text stays readable); below that, the panel scrolls (.topology-wrap).
    <svg
      className="topology"
      viewBox={`0 0 ${layout.width} ${layout.height}`}
      style={{ width: '100%', maxWidth: layout.width, minWidth: Math.round(layout.width * 0.7), height: 'auto' }}
      data-testid="topology"
      role="img"
      aria-label="Service topology"
    >
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" fill="var(--muted)" />
        </marker>
      </defs>
      {layout.edges.map((e) => {
        const st = stats.get(`${e.source}\u0000${e.target}`);
        const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' ');
        const mid = e.label;
        const color = st ? successColor(st.successRate) : 'var(--border)';
        return (
          <g key={`${e.source}-${e.target}`} data-testid="topology-edge" data-source={e.source} data-target={e.target} data-rps={st ? st.rps.toFixed(2) : '0'}>
            <path d={d} fill="none" stroke={color} strokeWidth={st ? 2.5 : 1.5} strokeDasharray={st ? undefined : '4 4'} markerEnd="url(#arrow)" />
            {st && (
              <text x={mid.x} y={mid.y - 17} className="edge-label" textAnchor="middle" data-testid="topology-edge-label">
                <tspan x={mid.x}>
                  {st.rps.toFixed(1)} rps · {st.successRate === null ? '–' : `${(st.successRate * 100).toFixed(st.successRate < 1 ? 1 : 0)}%`}
                </tspan>
                <tspan x={mid.x} dy={12}>
                  p99 {st.p99Ms === null ? '–' : formatDuration(st.p99Ms)}
                </tspan>
              </text>
            )}
          </g>
        );
      })}
      {layout.nodes.map((n) => {
        const svc = byName.get(n.name);
        const x = n.x - n.width / 2;
        const y = n.y - n.height / 2;
        if (!svc) {
          return (
            <g key={n.name} transform={`translate(${x},${y})`} data-testid="topology-node" data-service={n.name}>
              <rect width={n.width} height={n.height} rx={22} className="node node-gateway" />
              <text x={n.width / 2} y={n.height / 2 + 4} textAnchor="middle" className="node-title">
                {n.name}
              </text>
            </g>
          );
        }
        const running = svc.instances.filter((i) => i.state === 'running').length;
        const restarts = svc.instances.reduce((m, i) => m + i.restarts + i.sidecar.restarts, 0);
        const versions = [...new Set(svc.instances.map((i) => i.version).filter(Boolean))];
        const healthy = running === svc.instances.length && svc.instances.length > 0;
        return (
          <g
            key={n.name}
            transform={`translate(${x},${y})`}
            className="clickable"
            data-testid="topology-node"
            data-service={n.name}
            tabIndex={0}
            role="button"
            aria-label={`${n.name}: ${running} of ${svc.instances.length} running`}
            onClick={() => onSelect(n.name)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                onSelect(n.name);
              }
            }}
          >
            <rect width={n.width} height={n.height} rx={8} className={`node ${healthy ? '' : 'node-degraded'}`} />
            <rect width={5} height={n.height} rx={2} fill={serviceColor(n.name)} />
            <text x={14} y={20} className="node-title">
              {n.name}
            </text>
            <text x={14} y={38} className="node-line">
              {running}/{svc.instances.length} running{versions.length ? ` · ${versions.join(' ')}` : ''}
            </text>
            <text x={14} y={56} className="node-line">
              <tspan className={`mtls-text-${svc.mtls.toLowerCase()}`}>mTLS {svc.mtls}</tspan>
              {restarts > 0 && <tspan className="warn-fill"> · {restarts} restart{restarts > 1 ? 's' : ''}</tspan>}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
