// When a span started, in epoch milliseconds with microsecond resolution. Date.now() is whole milliseconds:
// a span that started at x.9 ms was stored at x.0, so a sub-millisecond child could appear to end after its
// parent. The monotonic clock (performance.now(), which every exchange already reads for its duration) is
// anchored to the wall clock instead, and the anchor must be right to the microsecond in every sidecar,
// because a parent and its child are timed by two processes: performance.timeOrigin is not (its wall and
// monotonic readings are taken apart at startup; under load, half a millisecond apart was seen), so the
// anchor is measured.
//
// Each reading of Date.now() between two monotonic readings bounds the offset between the clocks: it lies
// in [wall - after, wall + 1 - before] (Date.now() floors). A reading taken just after the millisecond
// ticks over makes the lower bound tight, one just before makes the upper bound tight, so sampling across
// tick edges at startup (busy, once: until the bounds are 10 µs apart, at most 20 ms) pins the anchor; a preempted reading only gives looser
// bounds, never wrong ones. Every span start samples again, so a wall clock that is slewed (NTP) or stepped
// is followed: the bounds widen by MAX_DRIFT of the time since the last reading, and a reading outside them
// starts them afresh. The anchor is the middle of the bounds.

/** How fast the wall clock may drift from the monotonic clock (NTP slews at most 500 ppm; typically far less). */
const MAX_DRIFT = 100e-6;
const CALIBRATION_MS = 20;
const CALIBRATED_MS = 0.01;

let lo = -Infinity;
let hi = Infinity;
let last = 0;
let anchor = performance.timeOrigin;

function sample(before: number): void {
  const wall = Date.now();
  const after = performance.now();
  const widen = (after - last) * MAX_DRIFT;
  last = after;
  let low = Math.max(lo - widen, wall - after);
  let high = Math.min(hi + widen, wall + 1 - before);
  if (low > high) {
    // The wall clock moved more than drift explains (stepped): what this reading says is all that holds.
    low = wall - after;
    high = wall + 1 - before;
  }
  lo = low;
  hi = high;
  anchor = (low + high) / 2;
}

// Until both bounds are within microseconds, or CALIBRATION_MS (a descheduled process may see few tick edges).
for (const end = performance.now() + CALIBRATION_MS; hi - lo > CALIBRATED_MS && performance.now() < end; ) sample(performance.now());

/** The wall-clock time of `t0` (a performance.now() reading taken just before), rounded to the microsecond. */
export function spanStartMs(t0: number): number {
  sample(t0);
  return Math.round((anchor + t0) * 1000) / 1000;
}
