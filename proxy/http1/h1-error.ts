/** Transport failures: `code` for the retry policy, `phase` tells a connect failure from a reset. */
export class H1Error extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly phase: 'connect' | 'exchange',
  ) {
    super(message);
  }
}

export function abortError(): H1Error {
  const err = new H1Error('request aborted', 'ABORT_ERR', 'exchange');
  err.name = 'AbortError';
  return err;
}
