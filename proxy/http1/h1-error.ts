/** Transport failures: `code` for the retry policy, `phase` tells a connect failure from a reset. */
export class H1Error extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly phase: 'connect' | 'exchange',
    /**
     * Reset on a reused connection before any byte of the answer, the request unread: RFC 9112 §9.3.1 lets a
     * client send an idempotent request again then.
     */
    readonly replayable = false,
  ) {
    super(message);
  }
}

export function abortError(): H1Error {
  const err = new H1Error('request aborted', 'ABORT_ERR', 'exchange');
  err.name = 'AbortError';
  return err;
}
