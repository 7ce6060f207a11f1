// The local CA: a kept root with a 0600 key, SPIFFE leaves, and `devmesh ca export`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaError, LocalCa } from './local-ca.js';
import { CLI, tempHome } from '../../test/helpers/mesh-process.js';

test('the root is created once, kept, and its key is 0600', (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const dir = join(home, 'ca');
  const a = LocalCa.loadOrCreate(dir);
  const b = LocalCa.loadOrCreate(dir);
  assert.equal(a.rootPem, b.rootPem);
  assert.equal(statSync(join(dir, 'root-key.pem')).mode & 0o777, 0o600);
  const root = new X509Certificate(a.rootPem);
  assert.ok(root.ca);
});

test('a leaf carries the SPIFFE id, is signed by the root and is short-lived', (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const ca = LocalCa.loadOrCreate(join(home, 'ca'));
  const leaf = ca.issue({ commonName: 'reviews-v1-0', uris: ['spiffe://bookinfo/ns/default/sa/reviews'], ttlMs: 3_600_000 });
  const cert = new X509Certificate(leaf.certPem);
  assert.equal(cert.subjectAltName, 'URI:spiffe://bookinfo/ns/default/sa/reviews');
  assert.ok(cert.verify(new X509Certificate(ca.rootPem).publicKey));
  assert.ok(cert.checkIssued(new X509Certificate(ca.rootPem)));
  const lifetime = Date.parse(cert.validTo) - Date.now();
  assert.ok(lifetime > 3_000_000 && lifetime <= 3_600_000, `lifetime ${lifetime}`);
  // An ECDSA P-256 key (Linkerd's choice for proxies), matching the certificate, under an RSA root.
  const key = createPrivateKey(leaf.keyPem);
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(cert.checkPrivateKey(key));
  assert.equal(new X509Certificate(ca.rootPem).publicKey.asymmetricKeyType, 'rsa');
});

test('issueAsync gives the same kind of leaf, and a TLS handshake accepts it both ways', async (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const ca = LocalCa.loadOrCreate(join(home, 'ca'));
  const server = await ca.issueAsync({ commonName: 's', uris: ['spiffe://m/ns/default/sa/s'] });
  const client = await ca.issueAsync({ commonName: 'c', uris: ['spiffe://m/ns/default/sa/c'] });
  const srv = tls.createServer({ cert: server.certPem, key: server.keyPem, ca: ca.rootPem, requestCert: true, rejectUnauthorized: true }, (s) => s.end(s.getPeerCertificate().subjectaltname ?? ""));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => srv.close());
  const sock = tls.connect({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, cert: client.certPem, key: client.keyPem, ca: ca.rootPem, checkServerIdentity: () => undefined });
  let got = '';
  for await (const chunk of sock) got += String(chunk);
  assert.equal(got, 'URI:spiffe://m/ns/default/sa/c');
});

test('a corrupt root is a clear error, not a silent new CA', (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const dir = join(home, 'ca');
  LocalCa.loadOrCreate(dir);
  writeFileSync(join(dir, 'root-cert.pem'), 'not a certificate');
  assert.throws(() => LocalCa.loadOrCreate(dir), (err: unknown) => err instanceof CaError && err.code === 'CA_CORRUPT' && /root-cert\.pem/.test(err.message));
});

test('devmesh ca export prints the root certificate', (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const out = spawnSync(process.execPath, [CLI, 'ca', 'export'], { env: { ...process.env, DEVMESH_HOME: home }, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  assert.ok(new X509Certificate(out.stdout).ca);
  assert.equal(out.stdout, LocalCa.loadOrCreate(join(home, 'ca')).rootPem);
});
