// Fault injection (VirtualService `fault`): a delay, then an abort, each at its percentage. As in Istio, a
// client-side fault turns the rule's retries and timeout off, whether or not it fires this time.
import { setTimeout as sleep } from 'node:timers/promises';
import { ProxyError } from '../errors.js';
import type { FaultPolicy } from '../protocol/index.js';
import type { Exchange } from './exchange.js';

export async function injectFault(ex: Exchange, fault: FaultPolicy): Promise<void> {
  ex.retries = 0;
  ex.timeoutMs = undefined;
  if (fault.delay !== undefined && Math.random() * 100 < fault.delay.percent) {
    ex.fault = `delay ${fault.delay.fixedDelayMs}ms`;
    await sleep(fault.delay.fixedDelayMs);
  }
  const abort = fault.abort;
  if (abort === undefined || Math.random() * 100 >= abort.percent) return;
  ex.noteFault(abort.grpcStatus !== undefined ? `abort grpc ${abort.grpcStatus}` : `abort ${abort.httpStatus}`);
  if (abort.grpcStatus !== undefined) {
    ex.grpcStatus = String(abort.grpcStatus);
    // A trailers-only gRPC answer (HTTP 200), so a gRPC client reports the configured status.
    throw new ProxyError('fault-abort', 'fault filter abort', 200, {
      'content-type': 'application/grpc',
      'grpc-status': String(abort.grpcStatus),
      'grpc-message': 'fault filter abort',
    });
  }
  throw new ProxyError('fault-abort', 'fault filter abort', abort.httpStatus);
}
