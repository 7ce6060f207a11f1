// The mesh's local certificate authority (node-forge).
// The root is created once per DEVMESH_HOME and kept, so a user can trust it once (`devmesh ca export`);
// its private key is written 0600. Workload leaves are short-lived and carry a SPIFFE URI SAN,
// which is what sidecars check: the identity is the URI, not the host name.
// Leaf keys are ECDSA P-256, as Linkerd's proxy identities are (and Istio's with ECC_SIGNATURE_ALGORITHM=ECDSA):
// one is made in well under a millisecond, where an RSA-2048 key cost 100-200 ms of CPU, most of what a
// 30-service `up` spent before its first sidecar. The root stays RSA-2048 (trusted once, kept for years)
// and signs natively (node:crypto); node-forge builds the certificate's structure.
import forge from 'node-forge';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, generateKeyPair as generateKeyPairCallback, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

export interface IssuedCert {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

export class CaError extends Error {
  constructor(readonly code: 'CA_CORRUPT' | 'CA_IO', message: string) {
    super(message);
  }
}

const ROOT_CERT = 'root-cert.pem';
const ROOT_KEY = 'root-key.pem';
const ROOT_YEARS = 10;
/** Leaves live a day by default; the control plane renews them when two thirds of that has passed. */
export const DEFAULT_LEAF_TTL_MS = 24 * 60 * 60 * 1000;

function serial(): string {
  // Positive, 16 bytes: the high bit cleared so DER does not read it as negative.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function generateKeyPair(): forge.pki.rsa.KeyPair {
  // node-forge hands RSA generation to Node's native crypto when it is there, which keeps this fast.
  return forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
}

const generateKeyPairAsync = promisify(generateKeyPairCallback);
/** A leaf key: its public half as DER SubjectPublicKeyInfo (to put in the certificate), its private half as PKCS#8 PEM. */
const LEAF_KEY = { namedCurve: 'prime256v1', publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } } as const;
/** Where SubjectPublicKeyInfo sits in a TBSCertificate (RFC 5280 §4.1: version, serial, signature, issuer, validity, subject, key). */
const TBS_SPKI_INDEX = 6;

interface LeafOptions {
  commonName: string;
  uris: string[];
  dnsNames?: string[];
  ttlMs?: number;
}

export class LocalCa {
  private constructor(
    readonly dir: string,
    private readonly rootCert: forge.pki.Certificate,
    private readonly rootKey: KeyObject,
    readonly rootPem: string,
  ) {}

  /** Loads the root from `dir`, creating it the first time. */
  static loadOrCreate(dir: string, commonName = 'devmesh local root CA'): LocalCa {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const certPath = join(dir, ROOT_CERT);
    const keyPath = join(dir, ROOT_KEY);
    if (existsSync(certPath) && existsSync(keyPath)) {
      try {
        const rootPem = readFileSync(certPath, 'utf8');
        const cert = forge.pki.certificateFromPem(rootPem);
        const key = createPrivateKey(readFileSync(keyPath, 'utf8'));
        // Tighten permissions in case something loosened them.
        chmodSync(keyPath, 0o600);
        return new LocalCa(dir, cert, key, rootPem);
      } catch (err) {
        throw new CaError('CA_CORRUPT', `${certPath}: cannot read the mesh root CA (${(err as Error).message}); move the folder away to create a new one`);
      }
    }
    const keys = generateKeyPair();
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + ROOT_YEARS * 365 * 24 * 3600 * 1000);
    const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'devmesh' }];
    cert.setSubject(subject);
    cert.setIssuer(subject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    const rootPem = forge.pki.certificateToPem(cert);
    const keyPem = forge.pki.privateKeyToPem(keys.privateKey);
    writeFileSync(keyPath, keyPem, { mode: 0o600 });
    chmodSync(keyPath, 0o600);
    writeFileSync(certPath, rootPem, { mode: 0o644 });
    return new LocalCa(dir, cert, createPrivateKey(keyPem), rootPem);
  }

  /** Issues a leaf for a workload; `uris` become URI SANs (the SPIFFE id), `dnsNames` DNS SANs. */
  issue(opts: LeafOptions): IssuedCert {
    const { publicKey, privateKey } = generateKeyPairSync('ec', LEAF_KEY);
    return this.certify(opts, publicKey, privateKey);
  }

  /** issue(), with the key made on libuv's thread pool (the event loop keeps serving meanwhile). */
  async issueAsync(opts: LeafOptions): Promise<IssuedCert> {
    const { publicKey, privateKey } = await generateKeyPairAsync('ec', LEAF_KEY);
    return this.certify(opts, publicKey, privateKey);
  }

  private certify(opts: LeafOptions, spki: Buffer, keyPem: string): IssuedCert {
    const cert = forge.pki.createCertificate();
    // forge encodes RSA keys only: a placeholder, replaced by the leaf's EC key in the TBSCertificate below.
    cert.publicKey = this.rootCert.publicKey;
    cert.serialNumber = serial();
    const notAfter = new Date(Date.now() + (opts.ttlMs ?? DEFAULT_LEAF_TTL_MS));
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = notAfter;
    cert.setSubject([{ name: 'commonName', value: opts.commonName }, { name: 'organizationName', value: 'devmesh' }]);
    cert.setIssuer(this.rootCert.subject.attributes);
    const altNames = [
      ...opts.uris.map((value) => ({ type: 6, value })),
      ...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ];
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      // An ECDSA key signs (the TLS handshake); it never enciphers a key, as an RSA one may.
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.rootCert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    const sha256WithRSA = forge.pki.oids.sha256WithRSAEncryption!;
    cert.siginfo.algorithmOid = sha256WithRSA;
    const tbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
    (tbs.value as forge.asn1.Asn1[])[TBS_SPKI_INDEX] = forge.asn1.fromDer(forge.util.createBuffer(spki.toString('binary')));
    const tbsDer = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
    const signature = sign('sha256', tbsDer, this.rootKey);
    const { asn1 } = forge;
    const certificate = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      tbs,
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(sha256WithRSA).getBytes()),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
      ]),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\0${signature.toString('binary')}`),
    ]);
    const certPem = forge.pem.encode({ type: 'CERTIFICATE', body: asn1.toDer(certificate).getBytes() }, { maxline: 64 });
    return { certPem, keyPem, notAfter };
  }
}
