// Mesh TLS: identity is the SPIFFE URI SAN, never the host name (every sidecar listens on 127.0.0.1).
import { createSecureContext, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { TlsMaterial } from './protocol/index.js';

/** URI SANs of a certificate, from Node's `subjectaltname` string ("URI:spiffe://..., DNS:x"). */
export function uriSans(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  const out: string[] = [];
  for (const entry of subjectaltname.split(', ')) {
    if (entry.startsWith('URI:')) out.push(entry.slice(4));
  }
  return out;
}

/**
 * The client's identity check for an upstream sidecar. It replaces Node's host name check on purpose:
 * the chain is already verified against the mesh CA, and what matters is which workload answered.
 */
export function spiffeIdentityCheck(expected: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    if (uriSans(cert.subjectaltname).includes(expected)) return undefined;
    const err = new Error(`upstream certificate identity ${JSON.stringify(uriSans(cert.subjectaltname))} is not ${expected}`) as Error & { code: string };
    err.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
    return err;
  };
}

const peerIds = new WeakMap<TLSSocket, string | null>();

/** The verified peer's SPIFFE id; computed once per connection, since keep-alive reuses it. */
export function peerSpiffeId(socket: TLSSocket): string | null {
  let id = peerIds.get(socket);
  if (id === undefined) {
    id = socket.authorized ? uriSans(socket.getPeerCertificate().subjectaltname).find((u) => u.startsWith('spiffe://')) ?? null : null;
    peerIds.set(socket, id);
  }
  return id;
}

/** Throws a readable error when the material cannot form a TLS context (bad PEM, key not matching cert). */
export function checkTlsMaterial(tls: TlsMaterial): void {
  createSecureContext({ ca: tls.caPem, cert: tls.certPem, key: tls.keyPem });
}

export function sameTlsMaterial(a: TlsMaterial | undefined, b: TlsMaterial): boolean {
  return a !== undefined && a.caPem === b.caPem && a.certPem === b.certPem && a.keyPem === b.keyPem;
}
