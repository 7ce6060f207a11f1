// Watch mode (Tilt's live restart, compose's `develop.watch` with action restart): each service's `watch:`
// patterns are followed with chokidar, on the patterns' base folders (chokidar 4+ match no globs; the
// patterns are matched here, src/config/watch-paths.ts). Changes are coalesced per service: a save that
// touches several files, or an editor's write-rename, is one restart, asked for once the files are quiet
// for `debounceMs`.
import { relative, resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { WatchMatcher, type WatchSpec } from '../config/watch-paths.js';

export const WATCH_DEBOUNCE_MS = 300;

export class ServiceWatcher {
  private readonly watchers: FSWatcher[] = [];
  private readonly pending = new Map<string, { files: Set<string>; timer: NodeJS.Timeout }>();
  private closed = false;

  constructor(
    private readonly meshDir: string,
    private readonly services: ReadonlyMap<string, WatchSpec>,
    /** Files (relative to the mesh file's folder) that changed for `service`, after the quiet period. */
    private readonly onChange: (service: string, files: string[]) => void,
    private readonly log: (line: string) => void,
    private readonly debounceMs = WATCH_DEBOUNCE_MS,
  ) {}

  private rel(path: string): string {
    const r = relative(this.meshDir, path);
    return (r === '' ? '.' : r).split(sep).join('/');
  }

  /** Resolves once every service's folders are scanned: a change from then on is seen. */
  async start(): Promise<void> {
    await Promise.all(
      [...this.services].map(async ([service, spec]) => {
        const matcher = new WatchMatcher(spec);
        const watcher = watch(
          matcher.bases.map((b) => resolve(this.meshDir, b)),
          { ignoreInitial: true, ignored: (path) => matcher.skipsDir(this.rel(path)) },
        );
        this.watchers.push(watcher);
        watcher.on('all', (event, path) => {
          if (event === 'addDir' || event === 'unlinkDir') return;
          const rel = this.rel(path);
          if (matcher.matches(rel)) this.changed(service, rel);
        });
        watcher.on('error', (err) => this.log(`watch: ${service}: ${(err as Error).message}`));
        await new Promise<void>((ready) => watcher.once('ready', ready));
      }),
    );
  }

  private changed(service: string, file: string): void {
    if (this.closed) return;
    const entry = this.pending.get(service) ?? { files: new Set<string>(), timer: undefined as unknown as NodeJS.Timeout };
    clearTimeout(entry.timer);
    entry.files.add(file);
    entry.timer = setTimeout(() => {
      this.pending.delete(service);
      if (!this.closed) this.onChange(service, [...entry.files]);
    }, this.debounceMs);
    this.pending.set(service, entry);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    await Promise.all(this.watchers.map((w) => w.close()));
  }
}
