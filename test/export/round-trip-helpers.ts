// Shared by the Linkerd and Consul round-trip tests: a local mesh exported, the output imported again by
// devmesh's own importer, and the two compared with the effective-policy diff (src/diff/effective-policy.ts)
// after both are put in normal form (src/export/canonical.ts: same behaviour, one spelling). Every
// difference must be one the exporter reported as a note, located at the same place.
import { readdirSync } from 'node:fs';
import { parseMesh } from '../../src/config/load-mesh.js';
import type { MeshFile, PolicyFile } from '../../src/config/mesh-schema.js';
import { diffPolicies, withPolicy, type Difference } from '../../src/diff/effective-policy.js';
import { canonicalPolicy } from '../../src/export/canonical.js';
import type { ExportResult } from '../../src/export/export-policy.js';
import { importPolicy, type ImportResult } from '../../src/import/import-policy.js';
import { FIXTURES, importFixture, TEST_MESH_YAML } from '../import/helpers.js';

/** The policy sections of a mesh file, services' own mtls folded into serviceMtls. */
export function policyOf(mesh: MeshFile): PolicyFile {
  const serviceMtls = { ...Object.fromEntries(Object.entries(mesh.services).filter(([, s]) => s.mtls !== undefined).map(([n, s]) => [n, s.mtls!])), ...(mesh.serviceMtls ?? {}) };
  return {
    mtls: mesh.mtls,
    ...(mesh.routes ? { routes: mesh.routes } : {}),
    ...(mesh.policies ? { policies: mesh.policies } : {}),
    ...(mesh.authorization ? { authorization: mesh.authorization } : {}),
    ...(Object.keys(serviceMtls).length ? { serviceMtls } : {}),
  };
}

export interface RoundTrip {
  again: ImportResult;
  diffs: Difference[];
  /** Differences no note accounts for: must be none. */
  unexplained: Difference[];
}

/** The note speaks of the place the difference is at (for authorization: a policy that applies to the service). */
function explains(mesh: MeshFile, note: string, d: Difference): boolean {
  const section = d.path.split(/[.[]/)[0];
  if (section === 'authorization') {
    if (note.startsWith(`authorization on ${d.service}:`)) return true;
    const name = /^authorization (\S+?)(\.rules\[\d+\])?:/.exec(note)?.[1];
    return (mesh.authorization ?? []).some((p) => p.name === name && (p.service === undefined || p.service === d.service));
  }
  if (section === 'routes') return note.startsWith(`routes.${d.service}`);
  if (section === 'policy') return note.startsWith(`policies.${d.service}`);
  if (section === 'mtls') return note.startsWith(`serviceMtls.${d.service}`) || note.startsWith('mtls');
  return false;
}

export function roundTrip(local: MeshFile, exported: ExportResult): RoundTrip {
  const inputs = exported.files ?? [{ name: 'export.yaml', text: exported.yaml }];
  const again = importPolicy(inputs, { mesh: local });
  const services = Object.keys(local.services);
  const diffs = diffPolicies(withPolicy(local, canonicalPolicy(policyOf(local), services)), canonicalPolicy(again.policy, services));
  return { again, diffs, unexplained: diffs.filter((d) => !exported.notes.some((n) => explains(local, n, d))) };
}

export function meshWith(policy: PolicyFile): MeshFile {
  return parseMesh(`${TEST_MESH_YAML}\ninclude: [p.yaml]\n`, 'test-mesh.yaml', () => JSON.stringify(policy));
}

/** Every public fixture that imports to some policy, as the local mesh it makes. */
export function fixtureMeshes(): { file: string; mesh: MeshFile }[] {
  return ['istio', 'gateway-api', 'linkerd', 'consul']
    .flatMap((d) => readdirSync(`${FIXTURES}/${d}`).map((f) => `${d}/${f}`))
    .map((file) => ({ file, policy: importFixture([file]).policy }))
    .filter(({ policy }) => Object.keys(policy).length > 0)
    .map(({ file, policy }) => ({ file, mesh: meshWith(policy) }));
}
