// When a span started, in epoch milliseconds with microsecond resolution. Date.now() is whole milliseconds:
// a span that started at x.9 ms was stored at x.0, so a sub-millisecond child could appear to end after its
// parent. The monotonic clock (performance.now(), which every exchange already reads for its duration) is
// anchored to the wall clock at performance.timeOrigin (taken in microseconds when the process started).
//
// The anchor is kept honest without a timer or a busy wait: each call brackets Date.now() between two
// monotonic readings, which bounds the true offset between the clocks to a 1 ms window (Date.now() floors);
// the anchor is moved only when it falls outside that window (the wall clock was stepped or slewed), and
// then only as far as the window's edge. So spans of one process keep their sub-millisecond order, and no
// sidecar drifts more than a millisecond from the wall clock the other processes read.

let anchor = performance.timeOrigin;

/** The wall-clock time of `t0` (a performance.now() reading taken just before), rounded to the microsecond. */
export function spanStartMs(t0: number): number {
  const wall = Date.now();
  const after = performance.now();
  // wall ≤ true wall time at that instant < wall + 1; that instant lies between t0 and `after`.
  const lowest = wall - after;
  const highest = wall + 1 - t0;
  if (anchor < lowest) anchor = lowest;
  else if (anchor > highest) anchor = highest;
  return Math.round((anchor + t0) * 1000) / 1000;
}
