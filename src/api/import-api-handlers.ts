// The import wizard's operations on the control-plane API: preview (translate, validate against the
// running mesh's file, write nothing) and apply (write the policy file and the include; the mesh's file
// watcher then pushes it like any edit).
import type { ImportApplyResponse, ImportPreviewResponse, ImportRequest } from '../contract/api.js';
import { loadMeshFile, MeshConfigError } from '../config/load-mesh.js';
import { importPolicy } from '../import/import-policy.js';
import { applyWrite, planWrite, policyText } from '../import/policy-writer.js';

export interface ImportApiHandlers {
  importPreview(req: ImportRequest): ImportPreviewResponse;
  importApply(req: ImportRequest): ImportApplyResponse;
}

export function importApiHandlers(meshFile: string): ImportApiHandlers {
  const run = (req: ImportRequest, write: boolean): ImportApplyResponse => {
    const mesh = loadMeshFile(meshFile);
    const result = importPolicy(req.files, { mesh, ...(req.from ? { from: req.from } : {}), map: req.map ?? {} });
    const names = req.files.map((f) => f.name);
    try {
      const plan = planWrite(meshFile, result.policy, names);
      if (write) applyWrite(meshFile, plan);
      return { report: result.report, policyText: plan.policyText, ingress: result.ingress, error: null, written: write ? plan.policyPath : null };
    } catch (err) {
      if (!(err instanceof MeshConfigError)) throw err;
      return { report: result.report, policyText: policyText(result.policy, names), ingress: result.ingress, error: err.message, written: null };
    }
  };
  return {
    importPreview: (req) => {
      const { written: _, ...preview } = run(req, false);
      return preview;
    },
    importApply: (req) => run(req, true),
  };
}
