import type { InstanceState, InstanceStatus, LifecycleAction, ServiceStatus } from '../../src/contract/api';
import { hrefOf } from '../router';
import { assertNever, formatUptime, serviceColor } from '../format';

interface Props {
  services: ServiceStatus[];
  configVersion: number;
  nowMs: number;
  /** Start/stop/restart buttons per service; absent: no buttons. */
  onAction?(action: LifecycleAction, service: string): void;
  /** Service with an operation running: its buttons are disabled. */
  busy?: ReadonlySet<string>;
}

export function ServicesPanel({ services, configVersion, nowMs, onAction, busy }: Props) {
  if (services.length === 0) {
    return <p className="empty">No services in this mesh yet.</p>;
  }
  return (
    <table className="grid services">
      <thead>
        <tr>
          <th>Instance</th>
          <th>Version</th>
          <th>State</th>
          <th className="num">PID</th>
          <th className="num">App port</th>
          <th className="num">Inbound</th>
          <th className="num">Restarts</th>
          <th>Sidecar</th>
        </tr>
      </thead>
      {services.map((service) => (
        <tbody key={service.name}>
          <ServiceRow service={service} onAction={onAction} busy={busy?.has(service.name) ?? false} />
          {service.instances.map((instance) => (
            <InstanceRow key={instance.id} instance={instance} configVersion={configVersion} nowMs={nowMs} />
          ))}
        </tbody>
      ))}
    </table>
  );
}

export function LifecycleButtons({ target, onAction, busy, label }: { target: string; onAction(action: LifecycleAction): void; busy: boolean; label: string }) {
  return (
    <span className="actions" role="group" aria-label={`Lifecycle of ${label}`}>
      {(['start', 'stop', 'restart'] as const).map((a) => (
        <button key={a} type="button" className="btn btn-small" disabled={busy} onClick={() => onAction(a)} data-testid={`${a}-${target}`} title={`${a} ${label}`}>
          {a === 'start' ? '▶' : a === 'stop' ? '■' : '↻'} {a}
        </button>
      ))}
    </span>
  );
}

function ServiceRow({ service, onAction, busy }: { service: ServiceStatus; onAction?: Props['onAction']; busy: boolean }) {
  const running = service.instances.filter((i) => i.state === 'running').length;
  const total = service.instances.length;
  return (
    <tr className="service-row" data-testid="service-row" data-service={service.name}>
      <td colSpan={8}>
        <span className="swatch" style={{ background: serviceColor(service.name) }} />
        <a className="service-name" href={hrefOf('service', { name: service.name })} data-testid="service-link">
          {service.name}
        </a>
        <span className={`count ${running === total && total > 0 ? 'all-up' : 'some-down'}`}>
          {running}/{total} running
        </span>
        <span className={`pill mtls-${service.mtls.toLowerCase()}`} title="mTLS mode for inbound traffic">
          mTLS {service.mtls}
        </span>
        <span className="upstreams">
          {service.upstreams.length === 0 ? (
            <span className="muted">no upstreams</span>
          ) : (
            <>
              <span className="muted">→ </span>
              {service.upstreams.map((u) => (
                <span key={u} className="upstream">
                  <span className="swatch small" style={{ background: serviceColor(u) }} />
                  {u}
                </span>
              ))}
            </>
          )}
        </span>
        {onAction && <LifecycleButtons target={service.name} label={service.name} busy={busy} onAction={(a) => onAction(a, service.name)} />}
      </td>
    </tr>
  );
}

function InstanceRow({ instance, configVersion, nowMs }: { instance: InstanceStatus; configVersion: number; nowMs: number }) {
  const uptime = instance.state === 'running' && instance.startedAtMs ? `up ${formatUptime(instance.startedAtMs, nowMs)}` : null;
  return (
    <tr className="instance-row" data-testid="instance-row" data-instance={instance.id} data-state={instance.state}>
      <td className="mono indent">{instance.id}</td>
      <td className="mono">{instance.version || '–'}</td>
      <td>
        <StateBadge state={instance.state} />
        {uptime && <span className="muted small"> {uptime}</span>}
        {instance.detail && instance.state !== 'running' && instance.detail !== instance.lastExit && (
          // Pull or build progress while pending, what it is waiting for, why it backs off.
          <div className="last-exit state-detail" data-testid="instance-detail" title={instance.detail}>
            {instance.detail}
          </div>
        )}
        {instance.lastExit && instance.state !== 'running' && (
          <div className="last-exit" title={instance.lastExit}>
            {instance.lastExit}
          </div>
        )}
      </td>
      <td className="num mono">{instance.pid ?? '–'}</td>
      <td className="num mono">{instance.appPort}</td>
      <td className="num mono">{instance.inboundPort ?? '–'}</td>
      <td className={`num mono ${instance.restarts > 0 ? 'warn-text' : ''}`}>{instance.restarts}</td>
      <td>
        <SidecarCell instance={instance} configVersion={configVersion} />
      </td>
    </tr>
  );
}

function SidecarCell({ instance, configVersion }: { instance: InstanceStatus; configVersion: number }) {
  const { sidecar } = instance;
  if (sidecar.lastNack) {
    return (
      <span className="sidecar nack" title={sidecar.lastNack}>
        NACK v{configVersion}: {sidecar.lastNack}
        <span className="muted"> (serving v{sidecar.ackedVersion})</span>
      </span>
    );
  }
  const current = sidecar.ackedVersion >= configVersion;
  return (
    <span className={`sidecar ${current ? 'acked' : 'behind'}`} title={sidecar.pid ? `sidecar pid ${sidecar.pid}` : 'sidecar not running'}>
      {sidecar.ackedVersion > 0 ? `ACK v${sidecar.ackedVersion}` : 'no config yet'}
      {!current && sidecar.ackedVersion > 0 && <span className="muted"> (pushing v{configVersion})</span>}
      {sidecar.pid && <span className="muted small"> · pid {sidecar.pid}</span>}
      {sidecar.restarts > 0 && (
        <span className="warn-text small" data-testid="sidecar-restarts" title={sidecar.lastExit ?? undefined}>
          {' '}· restarted {sidecar.restarts}×
        </span>
      )}
    </span>
  );
}

function StateBadge({ state }: { state: InstanceState }) {
  return <span className={`badge state-${stateTone(state)}`}>{state}</span>;
}

function stateTone(state: InstanceState): 'good' | 'progress' | 'warn' | 'bad' | 'idle' {
  switch (state) {
    case 'running':
      return 'good';
    case 'pending':
    case 'starting':
      return 'progress';
    case 'backoff':
      return 'warn';
    case 'failed':
      return 'bad';
    case 'stopping':
    case 'stopped':
      return 'idle';
    default:
      return assertNever(state);
  }
}
