// One suite every importer runs (as the supervisor contract does for supervisors): a malformed input is a
// located error, the report is honest, importing the same input twice writes the same bytes, and what an
// exporter of the same format writes imports back to the same policy. A check an importer does not meet
// yet would be a `todo` with the reason; a check that cannot apply (no exporter) is skipped with the reason.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { parseMesh } from '../../src/config/load-mesh.js';
import type { MeshFile, PolicyFile } from '../../src/config/mesh-schema.js';
import { importPolicy, type ImportResult } from '../../src/import/import-policy.js';
import { policyText } from '../../src/import/policy-writer.js';
import { formatReport, type SourceFormat } from '../../src/import/report.js';
import { readInputs } from '../../src/import/sources.js';
import { fixture, FIXTURES, TEST_MESH_YAML, testMesh } from '../import/helpers.js';

export interface ImporterHarness {
  format: SourceFormat;
  /** Folder of shared/fixtures holding this format's real public files. */
  fixtureDir: string;
  /** A document of this format that is wrong in one field, and the file name it is read as. */
  malformed: { name: string; text: string };
  /** A resource this importer maps, with one field no version of the format has (`field`, at `path`): it must not read "mapped". */
  withUnknownField: { name: string; text: string; field: string; path: string };
  /** The local mesh with the policy, exported back to this format; or why there is no exporter. */
  exporter: ((mesh: MeshFile) => string) | { skip: string };
}

const mesh = testMesh();

function importText(name: string, text: string): ImportResult {
  return importPolicy([{ name, text }], { mesh });
}

function withPolicy(policy: PolicyFile): MeshFile {
  return parseMesh(`${TEST_MESH_YAML}\ninclude: [p.yaml]\n`, 'test-mesh.yaml', () => JSON.stringify(policy));
}

export function importerContract(h: ImporterHarness): void {
  const files = readdirSync(`${FIXTURES}/${h.fixtureDir}`).map((f) => `${h.fixtureDir}/${f}`);
  const importFile = (f: string) => importPolicy(readInputs([fixture(f)]), { mesh });

  describe(`importer contract: ${h.format}`, () => {
    test('a malformed document is an invalid entry located by file and line or resource name; the rest still imports', () => {
      const good = readInputs([fixture(files[0]!)]);
      const r = importPolicy([...good, { name: h.malformed.name, text: h.malformed.text }], { mesh });
      const invalid = r.report.entries.filter((e) => e.outcome === 'invalid');
      assert.ok(invalid.length > 0, `no invalid entry for ${h.malformed.name}`);
      for (const e of invalid) {
        assert.equal(e.file, h.malformed.name);
        assert.ok(e.line !== undefined || e.name !== '-', `located by line or name: ${JSON.stringify(e)}`);
        assert.ok(e.detail.length > 0);
      }
      assert.ok(r.report.documents.some((d) => d.file !== h.malformed.name && d.outcome !== 'invalid'), 'the good file still imports');
    });

    test('the report is honest: every document is reported, counts tally the resources and fieldCounts the entries, nothing "mapped" leaves the policy empty', () => {
      for (const f of files) {
        const r = importFile(f);
        assert.ok(r.report.documents.length > 0, `${f}: no document reported`);
        const tally = { mapped: 0, approximated: 0, ignored: 0, invalid: 0 };
        for (const e of r.report.entries) tally[e.outcome]++;
        assert.deepEqual(r.report.fieldCounts, tally, f);
        const resources = { mapped: 0, approximated: 0, ignored: 0, invalid: 0 };
        for (const d of r.report.documents) resources[d.outcome]++;
        assert.deepEqual(r.report.counts, resources, f);
        for (const d of r.report.documents) {
          const own = r.report.entries.filter((e) => e.file === d.file && e.document === d.document && e.name === d.name);
          assert.ok(own.length > 0, `${f}: document ${d.document} (${d.kind} ${d.name}) has no entry saying what became of it`);
        }
        if (r.report.documents.every((d) => d.outcome === 'mapped')) assert.ok(Object.keys(r.policy).length > 0 || r.ingress.length > 0, `${f}: all "mapped", yet nothing in the policy`);
      }
    });

    test('the report is honest: a field the importer does not know is reported not mapped at its path, and the resource is not counted as mapped', () => {
      const r = importText(h.withUnknownField.name, h.withUnknownField.text);
      const about = r.report.entries.filter((e) => e.path.split(/[.[]/).includes(h.withUnknownField.field));
      assert.deepEqual(about.map((e) => [e.path, e.outcome]), [[h.withUnknownField.path, 'ignored']], JSON.stringify(r.report.entries));
      assert.equal(r.report.documents.length, 1);
      // The rest of the resource still maps: it is partly mapped, not ignored, and says what it dropped.
      assert.equal(r.report.documents[0]!.outcome, 'approximated', JSON.stringify(r.report.entries));
      assert.deepEqual(r.report.counts, { mapped: 0, approximated: 1, ignored: 0, invalid: 0 });
      assert.ok(r.report.entries.some((e) => e.outcome === 'mapped'), 'the known fields still map');
      assert.ok(Object.keys(r.policy).length > 0, 'the known fields still reach the policy');
      const text = formatReport(r.report);
      assert.ok(text.includes(`${r.report.documents[0]!.kind} ${r.report.documents[0]!.name}: ${h.withUnknownField.path} not mapped: `), text);
      assert.match(text, /^1 resource: 0 mapped, 1 approximated, 0 ignored, 0 invalid$/m);
    });

    test('importing the same input twice writes byte-identical output', () => {
      for (const f of files) {
        const [a, b] = [importFile(f), importFile(f)];
        assert.equal(policyText(b.policy, [f]), policyText(a.policy, [f]), f);
        assert.equal(JSON.stringify(b.report), JSON.stringify(a.report), f);
      }
    });

    test('round trip: what the exporter writes imports back to the same policy', (t) => {
      const exporter = h.exporter;
      if (typeof exporter !== 'function') return t.skip(exporter.skip);
      let checked = 0;
      for (const f of files) {
        const first = importFile(f);
        const c = first.report.counts;
        if (c.invalid + c.approximated + c.ignored > 0 || !first.policy.routes) continue; // only what maps exactly can come back exactly
        const again = importText('export.yaml', exporter(withPolicy(first.policy)));
        assert.deepEqual(again.policy.routes, first.policy.routes, `routes of ${f}`);
        checked++;
      }
      assert.ok(checked > 0, 'no fixture maps exactly: nothing was round-tripped');
    });
  });
}
