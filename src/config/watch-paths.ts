// A service's `watch:` patterns (watch mode): globs or plain paths, relative to the mesh file's folder,
// whose changes restart the service. chokidar 4 and later watch folders but no longer match globs, so the
// matching is picomatch's (the matcher chokidar 3 itself used, and tinyglobby/fdir use): the control plane
// watches each pattern's static base folder with chokidar and keeps the events a pattern matches.
// A plain path names a file or a whole folder ("src" is src and everything under it).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';

/** The mesh file's `watch`: a list of patterns, or the list with patterns to leave out. */
export type WatchSetting = string[] | { paths: string[]; ignore?: string[] | undefined };

export interface WatchSpec {
  paths: string[];
  ignore: string[];
}

export function watchSpecOf(watch: WatchSetting | undefined): WatchSpec | null {
  if (watch === undefined) return null;
  return Array.isArray(watch) ? { paths: watch, ignore: [] } : { paths: watch.paths, ignore: watch.ignore ?? [] };
}

const GLOB_OPTIONS = { dot: true, strictBrackets: true } as const;

/**
 * What is wrong with `pattern` as a watch pattern, or null. Relative to the mesh file's folder and inside
 * it: a watch outside the project would follow folders devmesh does not own (and `/` or `~` would walk the disk).
 */
export function watchPatternProblem(pattern: string): string | null {
  if (pattern.startsWith('!')) return `"${pattern}": a "!" pattern is not supported; list what to leave out under ignore (watch: { paths: [...], ignore: [...] })`;
  if (pattern.startsWith('/') || /^[A-Za-z]:[\\/]/.test(pattern) || pattern.startsWith('~')) return `"${pattern}" is not relative: watch paths are relative to the mesh file's folder`;
  if (pattern.includes('\\')) return `"${pattern}": write paths with "/" (a backslash escapes the next character in a glob)`;
  if (pattern.split('/').includes('..')) return `"${pattern}" leaves the mesh file's folder: watch paths stay inside the project the mesh file is in`;
  try {
    picomatch.makeRe(pattern, GLOB_OPTIONS);
  } catch (err) {
    return `"${pattern}" is not a valid glob: ${(err as Error).message}`;
  }
  return null;
}

/** Trims "./" and a trailing "/" so "./src/" and "src" are one pattern. */
function tidy(pattern: string): string {
  return pattern.replace(/^(\.\/)+/, '').replace(/\/+$/, '') || '.';
}

/** A matcher for one pattern: a glob as picomatch reads it; a plain path as itself and everything under it. */
function compile(pattern: string): (rel: string) => boolean {
  const p = tidy(pattern);
  if (p === '.') return () => true;
  if (!picomatch.scan(p).isGlob) return (rel) => rel === p || rel.startsWith(`${p}/`);
  return picomatch(p, GLOB_OPTIONS);
}

/** Folders never looked into unless a pattern names them: what no app restart should follow. */
const SKIPPED_DIRS = ['.git', 'node_modules'];

/** Watched paths of one service, relative to the mesh file's folder with "/" separators. */
export class WatchMatcher {
  private readonly include: ((rel: string) => boolean)[];
  private readonly exclude: ((rel: string) => boolean)[];
  private readonly skipped: string[];

  constructor(readonly spec: WatchSpec) {
    this.include = spec.paths.map(compile);
    this.exclude = spec.ignore.map(compile);
    this.skipped = SKIPPED_DIRS.filter((d) => !spec.paths.some((p) => p.split('/').includes(d)));
  }

  /** The folders (or files) to watch: each pattern's part before its first glob character ("." for the mesh's folder). */
  get bases(): string[] {
    return [...new Set(this.spec.paths.map((p) => tidy(picomatch.scan(tidy(p)).base || '.')))];
  }

  /** A changed file (or folder) that restarts the service. */
  matches(rel: string): boolean {
    return this.include.some((m) => m(rel)) && !this.exclude.some((m) => m(rel));
  }

  /** A folder not worth descending into: ignored as a whole, or a .git / node_modules no pattern names. */
  skipsDir(rel: string): boolean {
    const name = rel.split('/').pop() ?? '';
    return this.skipped.includes(name) || this.exclude.some((m) => m(rel));
  }
}

/**
 * The patterns that match no file now (a warning, not an error: the file may come later). Looks at most
 * `budget` entries per pattern, so a pattern over a huge tree answers quickly (unknown counts as matched).
 */
export function unmatchedPatterns(meshDir: string, spec: WatchSpec, budget = 20_000): string[] {
  return spec.paths.filter((pattern) => {
    const one = new WatchMatcher({ paths: [pattern], ignore: spec.ignore });
    let seen = 0;
    const walk = (rel: string): boolean => {
      let entries;
      try {
        entries = readdirSync(join(meshDir, rel), { withFileTypes: true });
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ENOTDIR' && one.matches(rel); // a file; or nothing there
      }
      if (one.matches(rel)) return true;
      for (const e of entries) {
        if (++seen > budget) return true;
        const child = rel === '.' ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory() ? !one.skipsDir(child) && walk(child) : one.matches(child)) return true;
      }
      return false;
    };
    return !one.bases.some((base) => walk(base));
  });
}
