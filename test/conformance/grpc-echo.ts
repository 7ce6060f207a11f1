// The Gateway API suite's gRPC echo, both ends: the service gateway_api_conformance.echo_basic.grpcecho.GrpcEcho
// of grpcecho.proto (copied unchanged from upstream's echo-basic), and the suite's client.
//
// Server: upstream's echo-basic answers Echo and EchoTwo with the request's metadata, its :authority, the
// fully qualified method and the pod's context (namespace, pod), and leaves EchoThree unimplemented. Here it
// is written on node:http2 (unary gRPC framing, messages encoded with protobufjs from the same .proto)
// rather than a @grpc/grpc-js Server, because a devmesh service has one port: the mesh's echo service must
// answer the HTTP tests and the gRPC tests on it (upstream's echo listens on 80 and 7070), and a grpc-js
// Server cannot share an HTTP/2 server with anything else. The client below is @grpc/grpc-js, so the
// framing is checked by a real gRPC implementation on every call.
//
// Client: conformance/utils/grpc DefaultClient.SendRPC (kubernetes-sigs/gateway-api 4564255ac): insecure
// h2c, the case's authority when it sets one, its metadata as outgoing metadata, the response's code.
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { REPO } from '../helpers/mesh-process.js';

export const PROTO = join(REPO, 'test', 'conformance', 'grpcecho.proto');
export const GRPC_SERVICE = 'gateway_api_conformance.echo_basic.grpcecho.GrpcEcho';
export type EchoMethod = 'Echo' | 'EchoTwo' | 'EchoThree';

export interface EchoResponse {
  assertions?: {
    fullyQualifiedMethod?: string;
    headers?: { key: string; value: string }[];
    authority?: string;
    context?: { namespace?: string; ingress?: string; serviceName?: string; pod?: string };
  };
}

export interface GrpcResult {
  /** grpc.status code; 0 is OK. */
  code: number;
  /** The code's name as grpc-go's codes.Code String() spells it (OK, Unimplemented, …). */
  codeName: string;
  details: string;
  response: EchoResponse | null;
}

/** grpc-go's codes.Code names, by number. */
const CODE_NAMES = ['OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated'];

export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `Code(${code})`;
}

export function codeOf(name: string): number {
  const i = CODE_NAMES.indexOf(name);
  if (i < 0) throw new Error(`unknown gRPC code name ${name} (one of ${CODE_NAMES.join(', ')})`);
  return i;
}

// ---- server ----

let types: { request: protobuf.Type; response: protobuf.Type } | undefined;
function messageTypes(): { request: protobuf.Type; response: protobuf.Type } {
  if (!types) {
    const root = protobuf.loadSync(PROTO);
    types = { request: root.lookupType('gateway_api_conformance.echo_basic.grpcecho.EchoRequest'), response: root.lookupType('gateway_api_conformance.echo_basic.grpcecho.EchoResponse') };
  }
  return types;
}

/** Headers grpc-go keeps out of the incoming metadata (transport/http2_server.go isReservedHeader), besides pseudo-headers. */
const RESERVED = new Set(['content-type', 'user-agent', 'grpc-message-type', 'grpc-encoding', 'grpc-message', 'grpc-status', 'grpc-timeout', 'grpc-status-details-bin', 'te']);

export function isGrpcRequest(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/grpc(\+|;|$)/.test(contentType);
}

/** One unary GrpcEcho call on an HTTP/2 request; `context` is the pod's (NAMESPACE, SERVICE_NAME, POD_NAME). */
export function serveGrpcEcho(req: Http2ServerRequest, res: Http2ServerResponse, context: { namespace: string; serviceName: string; pod: string }): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const { request, response } = messageTypes();
    const [service, method] = (req.url ?? '').split('/').slice(1);
    if (service !== GRPC_SERVICE || (method !== 'Echo' && method !== 'EchoTwo')) {
      // Trailers-only, as grpc-go answers a method it does not implement.
      res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': String(grpc.status.UNIMPLEMENTED), 'grpc-message': `method ${method ?? ''} not implemented` }).end();
      return;
    }
    const body = Buffer.concat(chunks);
    if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
      res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': String(grpc.status.INTERNAL), 'grpc-message': 'expected one uncompressed length-prefixed message' }).end();
      return;
    }
    request.decode(body.subarray(5));
    const headers: { key: string; value: string }[] = [];
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const key = raw[i]!.toLowerCase();
      if ((key.startsWith(':') && key !== ':authority') || RESERVED.has(key)) continue;
      headers.push({ key, value: raw[i + 1]! });
    }
    const message = response.encode(
      response.create({
        assertions: {
          fullyQualifiedMethod: `/${service}/${method}`,
          headers,
          authority: req.headers[':authority'] ?? '',
          context: { namespace: context.namespace, ingress: '', serviceName: context.serviceName, pod: context.pod },
        },
        request: {},
      }),
    ).finish();
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    res.writeHead(200, { 'content-type': 'application/grpc' });
    res.addTrailers({ 'grpc-status': '0' });
    res.end(frame);
  });
}

// ---- client ----

type Stub = grpc.Client & Record<EchoMethod, (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: EchoResponse) => void) => grpc.ClientUnaryCall>;
let ctor: (new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ClientOptions) => Stub) | undefined;
const clients = new Map<string, Stub>();

function stubFor(address: string, authority: string | undefined): Stub {
  const key = `${address}|${authority ?? ''}`;
  let stub = clients.get(key);
  if (!stub) {
    if (!ctor) {
      const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { keepCase: false, defaults: true })) as unknown as {
        gateway_api_conformance: { echo_basic: { grpcecho: { GrpcEcho: typeof ctor } } };
      };
      ctor = pkg.gateway_api_conformance.echo_basic.grpcecho.GrpcEcho;
    }
    stub = new ctor!(address, grpc.credentials.createInsecure(), authority ? { 'grpc.default_authority': authority } : {});
    clients.set(key, stub);
  }
  return stub;
}

export interface GrpcCall {
  method: EchoMethod;
  /** The :authority to send (grpc.WithAuthority); the address when unset. */
  authority?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

/** One unary call to `address` (host:port, h2c). Never rejects for a gRPC status: the code is the result. */
export function callGrpcEcho(address: string, call: GrpcCall, timeoutMs = 10_000): Promise<GrpcResult> {
  const stub = stubFor(address, call.authority);
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(call.metadata ?? {})) md.add(k, v);
  return new Promise((resolve) => {
    stub[call.method]({}, md, { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err) resolve({ code: err.code, codeName: codeName(err.code), details: err.details, response: null });
      else resolve({ code: grpc.status.OK, codeName: 'OK', details: '', response: res ?? null });
    });
  });
}

/** Closes every cached channel (a case per connection is what the suite does; a run reuses them, closed at the end). */
export function closeGrpcClients(): void {
  for (const c of clients.values()) c.close();
  clients.clear();
}
