// OTLP/gRPC ingest on 127.0.0.1 (4317 by default, OTLP/gRPC's port): the collector services TraceService,
// MetricsService and LogsService, each with its unary Export call, for SDKs configured with
// OTEL_EXPORTER_OTLP_PROTOCOL=grpc (some SDKs export over gRPC only). Served with @grpc/grpc-js; the service
// definitions are written out here with the proto's method paths and the bodies are decoded by the same
// code as OTLP/HTTP protobuf (otlp-signals.ts), so there is no .proto file to load. The ingest token
// comes in metadata (OTEL_EXPORTER_OTLP_HEADERS becomes gRPC metadata in every SDK): UNAUTHENTICATED
// without it, INVALID_ARGUMENT naming what was wrong for a body that does not fit.
import { format } from 'node:util';
import { Metadata, Server, ServerCredentials, setLogger, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition } from '@grpc/grpc-js';
import { OTLP_TOKEN_HEADER, isOtlpToken, otlpTokenOf, type OtlpRejected, type OtlpSink } from './otlp-receiver.js';
import { OtlpRequestError, parseOtlp, type OtlpSignal } from './otlp-signals.js';

const MAX_MESSAGE = 8 * 1024 * 1024;

const SERVICES: Record<OtlpSignal, string> = {
  traces: 'opentelemetry.proto.collector.trace.v1.TraceService',
  metrics: 'opentelemetry.proto.collector.metrics.v1.MetricsService',
  logs: 'opentelemetry.proto.collector.logs.v1.LogsService',
};

/** A unary Export method taking and giving raw bytes: decoding happens in the handler, where errors can be named. */
function exportService(signal: OtlpSignal): ServiceDefinition {
  return {
    Export: {
      path: `/${SERVICES[signal]}/Export`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      // An empty Export*ServiceResponse (full success) is zero bytes.
      responseSerialize: () => Buffer.alloc(0),
      responseDeserialize: (b: Buffer) => b,
    },
  };
}

// grpc-js writes its own errors to the process's stderr, where `devmesh up --json` promises one JSON object
// per line: they go to the control plane's log instead. While a port is tried they are dropped: a taken 4317
// (another mesh, another collector) is expected, and listen() falls back to a free port.
let grpcLog: ((line: string) => void) | null = null;
let binding = 0;
setLogger({
  error: (...args: unknown[]) => {
    if (binding === 0) grpcLog?.(`otlp grpc: ${format(...args)}`);
  },
});

function first(md: Metadata, key: string): unknown {
  return md.get(key)[0];
}

export class OtlpGrpcReceiver {
  private readonly server = new Server({ 'grpc.max_receive_message_length': MAX_MESSAGE });
  private readonly token: Buffer;

  constructor(
    private readonly sink: OtlpSink,
    token: string,
    private readonly onRejected: OtlpRejected = () => {},
    log: (line: string) => void = () => {},
  ) {
    grpcLog = log;
    this.token = Buffer.from(token);
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      this.server.addService(exportService(signal), {
        Export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => this.export(signal, call, callback),
      });
    }
  }

  private export(signal: OtlpSignal, call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void {
    const refuse = (code: status, message: string) => {
      this.onRejected({ signal, protocol: 'grpc', message });
      callback({ code, details: message });
    };
    const given = otlpTokenOf(first(call.metadata, OTLP_TOKEN_HEADER), first(call.metadata, 'authorization'));
    if (!isOtlpToken(given, this.token)) {
      refuse(status.UNAUTHENTICATED, `send the mesh's OTLP token in ${OTLP_TOKEN_HEADER} metadata (apps started by devmesh get it in OTEL_EXPORTER_OTLP_HEADERS)`);
      return;
    }
    try {
      this.sink(parseOtlp(signal, call.request, 'protobuf'), 'grpc');
      callback(null, Buffer.alloc(0));
    } catch (err) {
      refuse(err instanceof OtlpRequestError ? status.INVALID_ARGUMENT : status.INTERNAL, `${SERVICES[signal]}/Export: ${(err as Error).message.slice(0, 500)}`);
    }
  }

  /** Listens on `port` on 127.0.0.1; falls back to a free port when it is taken. */
  listen(port: number): Promise<number> {
    const bind = (p: number) =>
      new Promise<number>((resolve, reject) => {
        binding++;
        this.server.bindAsync(`127.0.0.1:${p}`, ServerCredentials.createInsecure(), (err, bound) => {
          binding--;
          if (err) reject(err);
          else resolve(bound);
        });
      });
    return bind(port).catch((err: Error) => {
      if (port === 0) throw err;
      return bind(0);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      // Exporters keep their channel open; in-flight calls are answered, the rest are cut.
      const timer = setTimeout(() => this.server.forceShutdown(), 1000);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
