// The import wizard's operations on the control-plane API: preview (translate, validate against the
// running mesh's file, write nothing) and apply (write the policy file and the include; the mesh's file
// watcher then pushes it like any edit); and export, the mesh file's policy in a production format.
import type { ExportRequest, ExportResponse, ImportApplyResponse, ImportPreviewResponse, ImportRequest } from '../contract/api.js';
import { loadMeshFile, MeshConfigError } from '../config/load-mesh.js';
import { exportPolicy } from '../export/export-policy.js';
import { ApiFailure } from './api-server.js';
import { importPolicy } from '../import/import-policy.js';
import { applyWrite, planWrite, policyText } from '../import/policy-writer.js';

export interface ImportApiHandlers {
  importPreview(req: ImportRequest): ImportPreviewResponse;
  importApply(req: ImportRequest): ImportApplyResponse;
  exportPolicy(req: ExportRequest): ExportResponse;
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
    exportPolicy: (req) => {
      let mesh;
      try {
        mesh = loadMeshFile(meshFile);
      } catch (err) {
        if (err instanceof MeshConfigError) throw new ApiFailure(409, 'MESH_INVALID', `the mesh file does not load, nothing to export:\n${err.message}`);
        throw err;
      }
      const out = exportPolicy(mesh, req.to, req.format ? { consul: req.format } : {});
      return { text: out.yaml, notes: out.notes, files: out.files ?? null };
    },
  };
}
