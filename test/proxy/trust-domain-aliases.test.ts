// trustDomainAliases: validated where it is written in the mesh file, and pushed to every sidecar.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshConfigError, parseMesh } from '../../src/config/load-mesh.js';
import { buildSidecarConfig } from '../../src/sidecar-config/sidecar-config.js';
import { parseSidecarConfig } from '../../proxy/config-schema.js';
import { TrustDomains } from '../../proxy/inbound/peer-identity.js';
import { tempHome, TestMesh } from './helpers.js';

const workload = { service: 'a', version: '', instanceId: 'a-0' };

test('trustDomainAliases: a list of trust domains, located when wrong, passed down to the sidecar', () => {
  // Real material: the sidecar's parser checks that it forms a TLS context.
  const tls = new TestMesh(tempHome({ after })).tls('a');
  assert.throws(
    () => parseMesh('name: shop\ntrustDomainAliases: [Old_Mesh!]\nservices:\n  a: { run: x }\n', 'devmesh.yaml'),
    (err: unknown) => err instanceof MeshConfigError && /devmesh\.yaml:2:22: trustDomainAliases\[0\]: must be a SPIFFE trust domain/.test(err.message),
  );
  const mesh = parseMesh('name: shop\ntrustDomainAliases: [old.mesh, cluster.local]\nservices:\n  a: { run: x }\n', 'devmesh.yaml');
  const config = buildSidecarConfig(mesh, workload, tls, 1234, []);
  assert.deepEqual(config.trustDomainAliases, ['old.mesh', 'cluster.local']);
  assert.deepEqual(parseSidecarConfig(config).trustDomainAliases, ['old.mesh', 'cluster.local'], 'the sidecar keeps the field');
  const plain = buildSidecarConfig(parseMesh('name: shop\nservices:\n  a: { run: x }\n', 'devmesh.yaml'), workload, tls, 1234, []);
  assert.equal(plain.trustDomainAliases, undefined, 'absent unless written');
});

test('TrustDomains: the mesh and its aliases are trusted, anything else is refused with the reason', () => {
  const only = new TrustDomains('shop', []);
  assert.equal(only.refusal('spiffe://shop/ns/default/sa/a'), null);
  assert.equal(only.refusal('spiffe://other/ns/default/sa/a'), 'trust domain "other" is not shop (no trustDomainAliases)');
  assert.equal(only.refusal('spiffe://shopping/ns/default/sa/a'), 'trust domain "shopping" is not shop (no trustDomainAliases)', 'a prefix is not the domain');
  assert.equal(only.refusal(null), 'the certificate has no SPIFFE URI SAN');
  const aliased = new TrustDomains('shop', ['old', 'cluster.local']);
  assert.equal(aliased.refusal('spiffe://old/ns/default/sa/a'), null);
  assert.equal(aliased.refusal('spiffe://x/ns/default/sa/a'), 'trust domain "x" is not shop nor an alias (old, cluster.local)');
});

test('TrustDomains: principals of an alias and of the mesh are one identity to authorization (Istio)', () => {
  const trust = new TrustDomains('shop', ['old']);
  assert.equal(trust.canonical('spiffe://old/ns/default/sa/a'), 'spiffe://shop/ns/default/sa/a');
  assert.equal(trust.canonical('spiffe://shop/ns/default/sa/a'), 'spiffe://shop/ns/default/sa/a');
  assert.equal(trust.canonical(null), null);
  const policies = trust.canonicalPolicies([
    {
      name: 'p',
      action: 'ALLOW',
      rules: [
        {
          from: [{ principals: ['old/ns/default/sa/a', 'shop/ns/default/sa/b', '*/ns/default/sa/c', 'old/*'], notPrincipals: ['old/ns/default/sa/z'] }],
          when: [{ key: 'source.principal', values: ['old/ns/default/sa/a'] }, { key: 'request.headers[x]', values: ['old/ns/default/sa/a'] }],
        },
      ],
    },
  ]);
  assert.deepEqual(policies[0]!.rules![0]!.from![0], {
    principals: ['shop/ns/default/sa/a', 'shop/ns/default/sa/b', '*/ns/default/sa/c', 'shop/*'],
    notPrincipals: ['shop/ns/default/sa/z'],
  });
  assert.deepEqual(policies[0]!.rules![0]!.when, [
    { key: 'source.principal', values: ['shop/ns/default/sa/a'] },
    { key: 'request.headers[x]', values: ['old/ns/default/sa/a'] },
  ]);
  const none = [{ name: 'q', action: 'ALLOW' as const, rules: null }];
  assert.equal(new TrustDomains('shop', []).canonicalPolicies(none), none, 'without aliases the policies are kept as they are');
});
