// Edits of the mesh file from the UI: validate as the user types (the same parseMesh the CLI's `validate`
// runs), apply (write the text back, then let the running mesh reload and push it), and undo to the
// previous revision. The UI sends whole documents: a form edit is made on the YAML Document in the
// renderer (the `yaml` package keeps comments and layout), so what is written back keeps the user's comments.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { ConfigProblemDto, ConfigRevision, ValidateResponse } from '../contract/api.js';
import { MeshConfigError, parseMesh } from '../config/load-mesh.js';
import { ApiFailure } from './api-server.js';

interface Revision extends ConfigRevision {
  text: string;
}

export class MeshFileEditor {
  private revisions: Revision[] = [];
  private nextRevision = 1;

  constructor(readonly file: string, private readonly maxRevisions = 50) {
    this.record(this.read(), 'disk');
  }

  read(): string {
    return readFileSync(this.file, 'utf8');
  }

  get history(): ConfigRevision[] {
    return this.revisions.map(({ text: _text, ...r }) => r).reverse();
  }

  validate(text: string): ValidateResponse {
    try {
      parseMesh(text, this.file);
      return { valid: true, problems: [] };
    } catch (err) {
      if (!(err instanceof MeshConfigError)) return { valid: false, problems: [{ line: 1, column: 1, message: (err as Error).message }] };
      const main = basename(this.file);
      const problems: ConfigProblemDto[] = err.problems.map((p) =>
        basename(p.file) === main ? { line: p.line, column: p.column, message: p.message } : { line: 1, column: 1, message: `${p.file}:${p.line}:${p.column}: ${p.message}` },
      );
      return { valid: false, problems };
    }
  }

  /**
   * Writes `text` if it is valid. `baseText` is what the editor started from: when the file changed on
   * disk since (another editor saved it), the apply is refused with 409 rather than losing that edit.
   */
  write(text: string, baseText: string | undefined, origin: 'api' | 'undo' = 'api'): ValidateResponse {
    const result = this.validate(text);
    if (!result.valid) return result;
    const onDisk = this.read();
    if (baseText !== undefined && baseText !== onDisk) {
      throw new ApiFailure(409, 'CONFLICT', `${basename(this.file)} changed on disk since you started editing; reload it and apply again`);
    }
    if (this.revisions.at(-1)?.text !== onDisk) this.record(onDisk, 'disk');
    // Write beside and rename: an editor or the watcher never sees half a file.
    const tmp = `${this.file}.devmesh-tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.file);
    this.record(text, origin);
    return result;
  }

  /** The revision before the current one, if any. */
  previous(): string | null {
    return this.revisions.length >= 2 ? this.revisions[this.revisions.length - 2]!.text : null;
  }

  /** After an undo the undone revision is dropped, so a second undo goes one further back. */
  undo(): ValidateResponse {
    const prev = this.previous();
    if (prev === null) throw new ApiFailure(409, 'NOTHING_TO_UNDO', 'there is no earlier revision of the mesh file in this run');
    const current = this.revisions.pop()!;
    try {
      const r = this.write(prev, undefined, 'undo');
      // write() recorded prev again: keep one copy of it.
      this.revisions.splice(this.revisions.length - 2, 1);
      return r;
    } catch (err) {
      this.revisions.push(current);
      throw err;
    }
  }

  private record(text: string, origin: Revision['origin']): void {
    this.revisions.push({ revision: this.nextRevision++, savedAtMs: Date.now(), origin, text });
    if (this.revisions.length > this.maxRevisions) this.revisions.shift();
  }
}
