// The mesh file's JSON Schema, generated from the zod schema so the two cannot disagree.
// Published as schema/devmesh.schema.json: `# yaml-language-server: $schema=...` gives editor completion.
import { z } from 'zod';
import { MeshSchema } from './mesh-schema.js';

export function meshJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(MeshSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://devmesh.dev/schema/devmesh.schema.json',
    title: 'devmesh mesh file (devmesh.yaml)',
  };
}
