// The located problems a mesh text is rejected with, one per line (for the config tests).
import assert from 'node:assert/strict';
import { MeshConfigError, parseMesh } from '../../src/config/load-mesh.js';

export function problems(yaml: string, file = 'devmesh.yaml'): string[] {
  try {
    parseMesh(yaml, file);
  } catch (err) {
    assert.ok(err instanceof MeshConfigError);
    return err.message.split('\n');
  }
  assert.fail('expected the mesh to be rejected');
}
