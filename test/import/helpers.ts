// Shared by the import tests: where the real fixtures are, and a local mesh whose services carry the
// names the fixtures use, so their hosts map (the names nobody would have locally stay unmapped on purpose).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMesh } from '../../src/config/load-mesh.js';
import type { MeshFile } from '../../src/config/mesh-schema.js';
import { importPolicy, type ImportOptions, type ImportResult } from '../../src/import/import-policy.js';
import type { ReportEntry } from '../../src/import/report.js';
import { readInputs } from '../../src/import/sources.js';
import { REPO } from '../helpers/mesh-process.js';

export const FIXTURES = join(REPO, '..', 'shared', 'fixtures');

export function fixture(path: string): string {
  return join(FIXTURES, path);
}

export const TEST_MESH_YAML = `
name: fixtures
ingress:
  - { port: 0, service: productpage }
services:
  productpage: { run: x }
  details: { run: x, versions: { v1: {}, v2: {} } }
  reviews: { run: x, versions: { v1: {}, v2: {}, v3: {} } }
  ratings: { run: x, versions: { v1: {}, v2: {}, v2-mysql: {}, v2-mysql-vm: {} } }
  httpbin: { run: x, versions: { v1: {} } }
  sample: { run: x, versions: { v1: {} } }
  service3: { run: x, versions: { v1: {}, v2: {} } }
  infra-backend-v1: { run: x }
  infra-backend-v2: { run: x }
  infra-backend-v3: { run: x }
  grpc-infra-backend-v1: { run: x }
  grpc-infra-backend-v2: { run: x }
  echo: { run: x, versions: { v1: {}, v2: {} } }
  smiley: { run: x }
  smiley2: { run: x }
  schlep: { run: x }
  authors: { run: x }
  emoji: { run: x }
  voting: { run: x }
  web: { run: x }
  api: { run: x, versions: { v1: {}, v2: {} } }
  frontend: { run: x }
  nginx: { run: x }
  public-api: { run: x }
  product-api: { run: x }
  product-api-db: { run: x }
  payments: { run: x }
  traffic-generator: { run: x }
  api-gateway: { run: x }
`;

export function testMesh(): MeshFile {
  return parseMesh(TEST_MESH_YAML, 'test-mesh.yaml');
}

export function importFixture(paths: string[], opts: ImportOptions = {}): ImportResult {
  return importPolicy(readInputs(paths.map(fixture)), { mesh: testMesh(), ...opts });
}

export function entries(r: ImportResult, filter: Partial<ReportEntry>): ReportEntry[] {
  return r.report.entries.filter((e) => Object.entries(filter).every(([k, v]) => (e as unknown as Record<string, unknown>)[k] === v));
}

/** The merged mesh (test mesh + imported policy) must be valid: the policy fits the mesh. */
export function assertFits(r: ImportResult): MeshFile {
  const policy = JSON.stringify(r.policy);
  return parseMesh(`${TEST_MESH_YAML}\ninclude: [policy.yaml]\n`, 'test-mesh.yaml', () => policy);
}

export function readFixture(path: string): string {
  return readFileSync(fixture(path), 'utf8');
}
