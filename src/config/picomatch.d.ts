// picomatch 4 ships no types (and @types/picomatch is not installed): the little of it devmesh uses.
declare module 'picomatch' {
  interface PicomatchOptions {
    dot?: boolean;
    /** Throws on an unclosed [ { ( instead of matching it literally. */
    strictBrackets?: boolean;
  }
  interface ScanResult {
    /** The part of the pattern before its first glob character, e.g. "src" for "src/**\/*.js". */
    base: string;
    glob: string;
    isGlob: boolean;
    negated: boolean;
  }
  interface Picomatch {
    (glob: string | string[], options?: PicomatchOptions): (path: string) => boolean;
    scan(glob: string, options?: PicomatchOptions): ScanResult;
    makeRe(glob: string, options?: PicomatchOptions): RegExp;
  }
  const picomatch: Picomatch;
  export default picomatch;
}
