// The mesh's local certificate authority (node-forge).
// The root is created once per DEVMESH_HOME and kept, so a user can trust it once (`devmesh ca export`);
// its private key is written 0600. Workload leaves are short-lived and carry a SPIFFE URI SAN,
// which is what sidecars check: the identity is the URI, not the host name.
import forge from 'node-forge';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair as generateKeyPairCallback, randomBytes } from 'node:crypto';
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
    private readonly rootKey: forge.pki.rsa.PrivateKey,
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
        const key = forge.pki.privateKeyFromPem(readFileSync(keyPath, 'utf8')) as forge.pki.rsa.PrivateKey;
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
    writeFileSync(keyPath, forge.pki.privateKeyToPem(keys.privateKey), { mode: 0o600 });
    chmodSync(keyPath, 0o600);
    writeFileSync(certPath, rootPem, { mode: 0o644 });
    return new LocalCa(dir, cert, keys.privateKey, rootPem);
  }

  /** Issues a leaf for a workload; `uris` become URI SANs (the SPIFFE id), `dnsNames` DNS SANs. */
  issue(opts: LeafOptions): IssuedCert {
    return this.certify(opts, generateKeyPair());
  }

  /**
   * issue(), with the key generated on libuv's thread pool: a 2048-bit RSA key costs 0.1–0.5 s of CPU, so
   * a mesh starting 30 instances generates them in parallel and its event loop keeps serving meanwhile.
   */
  async issueAsync(opts: LeafOptions): Promise<IssuedCert> {
    const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
      modulusLength: 2048,
      publicExponent: 0x10001,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const keys = { publicKey: forge.pki.publicKeyFromPem(publicKey), privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey };
    return this.certify(opts, keys as forge.pki.rsa.KeyPair);
  }

  private certify(opts: LeafOptions, keys: forge.pki.rsa.KeyPair): IssuedCert {
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
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
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.rootCert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.rootKey, forge.md.sha256.create());
    return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey), notAfter };
  }
}
