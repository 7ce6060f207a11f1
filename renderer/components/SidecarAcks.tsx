// Which sidecars run the pushed configuration: ACK of the current version, behind it, or NACK with the
// reason. The same rows as the Routes & policies screen shows after an apply (data-testid=sidecar-ack).
import type { StatusResponse } from '../../src/contract/api';

export interface AckSummary {
  total: number;
  acked: number;
  nacked: number;
}

export function ackSummary(status: StatusResponse): AckSummary {
  const instances = status.services.flatMap((s) => s.instances);
  return {
    total: instances.length,
    acked: instances.filter((i) => !i.sidecar.lastNack && i.sidecar.ackedVersion >= status.config.version).length,
    nacked: instances.filter((i) => i.sidecar.lastNack).length,
  };
}

export function SidecarAcks({ status }: { status: StatusResponse }) {
  return (
    <table className="grid sidecar-acks">
      <tbody>
        {status.services.flatMap((s) =>
          s.instances.map((i) => (
            <tr key={i.id} data-testid="sidecar-ack" data-instance={i.id} data-acked={i.sidecar.ackedVersion}>
              <td className="mono">{i.id}</td>
              <td>
                {i.sidecar.lastNack ? (
                  <span className="sidecar nack">NACK: {i.sidecar.lastNack}</span>
                ) : i.sidecar.ackedVersion >= status.config.version ? (
                  <span className="sidecar acked">ACK v{i.sidecar.ackedVersion}</span>
                ) : (
                  <span className="sidecar behind">
                    v{i.sidecar.ackedVersion}, pushing v{status.config.version}
                  </span>
                )}
              </td>
            </tr>
          )),
        )}
      </tbody>
    </table>
  );
}
