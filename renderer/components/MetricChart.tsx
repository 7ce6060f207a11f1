// A small time-series chart (uPlot: canvas, fast, tiny). Series are re-set on new data without
// re-creating the chart, and the chart keeps its size while data streams in (no layout jumps).
//
// The time axis is ours, not uPlot's: uPlot's time labels put a date line on the first tick and can run
// into each other at half-width. Here the tick step is the smallest one at which every label fits with a
// gap, measured in the labels' own font, and the labels are DOM elements (so they are the exact boxes a
// test can measure, and they follow the theme's colours). A scale with a known range (a percentage) is
// fixed to it: uPlot pads an auto range, which made a steady 100% success rate draw a 0–200% axis.
import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

interface Props {
  title: string;
  times: number[];
  series: ChartSeries[];
  unit: string;
  height?: number;
  testId?: string;
  /** A fixed value axis (e.g. [0, 100] for a percentage); without it the axis follows the data. */
  yRange?: [number, number];
}

interface XLabel {
  left: number;
  text: string;
}

/** Tick steps in seconds, smallest first. */
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];
/** Space kept free between two time labels, in CSS pixels. */
const LABEL_GAP = 14;
const X_AXIS_PX = 26;

const pad = (n: number) => String(n).padStart(2, '0');
function clock(sec: number, withSeconds: boolean): string {
  const d = new Date(sec * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${withSeconds ? `:${pad(d.getSeconds())}` : ''}`;
}

/** The ticks (in seconds) of the smallest step whose labels, `labelWidth` wide, fit `widthPx` with a gap. */
function timeTicks(min: number, max: number, widthPx: number, labelWidth: (withSeconds: boolean) => number): { ticks: number[]; withSeconds: boolean } {
  const span = max - min;
  if (!(span > 0) || !(widthPx > 0)) return { ticks: [], withSeconds: false };
  const pxPerSec = widthPx / span;
  const step = STEPS.find((s) => s * pxPerSec >= labelWidth(s < 60) + LABEL_GAP) ?? STEPS[STEPS.length - 1]!;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max; t += step) ticks.push(t);
  return { ticks, withSeconds: step < 60 };
}

/** Indexes of the values with no value on either side (uPlot's points filter). */
function isolated(u: uPlot, seriesIdx: number): number[] | null {
  const v = u.data[seriesIdx] ?? [];
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) if (v[i] != null && v[i - 1] == null && v[i + 1] == null) out.push(i);
  return out;
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export function MetricChart({ title, times, series, unit, height = 150, testId, yRange }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const labelsBox = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [xLabels, setXLabels] = useState<{ top: number; labels: XLabel[] }>({ top: 0, labels: [] });
  const [yScale, setYScale] = useState<{ min: number; max: number } | null>(null);
  const shape = series.map((s) => s.label).join('|');
  const rangeKey = yRange ? yRange.join(',') : '';

  useEffect(() => {
    const el = host.current;
    const box = labelsBox.current;
    if (!el || !box) return;
    // Measured in the font the labels are drawn in (styles.css .chart-x-label).
    const cs = getComputedStyle(box);
    const ctx = document.createElement('canvas').getContext('2d');
    if (ctx) ctx.font = `${cs.fontSize} ${cs.fontFamily}`;
    const widths = new Map<boolean, number>();
    const labelWidth = (withSeconds: boolean) => {
      let w = widths.get(withSeconds);
      if (w === undefined) {
        const sample = withSeconds ? '00:00:00' : '00:00';
        w = Math.ceil(ctx ? ctx.measureText(sample).width : sample.length * 7);
        widths.set(withSeconds, w);
      }
      return w;
    };
    const plotWidth = (u: uPlot) => (u.bbox.width > 0 ? u.bbox.width / uPlot.pxRatio : Math.max(100, el.clientWidth - 70));
    // Canvas cannot read CSS variables: the colours are looked up on each draw, so a theme switch shows.
    const muted = () => cssVar('--muted', '#8590a0');
    const grid = { stroke: 'rgba(128,128,128,0.15)' };
    const tickStroke = { stroke: 'rgba(128,128,128,0.3)' };

    const publish = (u: uPlot) => {
      const min = u.scales.x.min;
      const max = u.scales.x.max;
      const left = u.bbox.left / uPlot.pxRatio;
      const total = el.clientWidth;
      const labels: XLabel[] = [];
      if (min != null && max != null) {
        const { ticks, withSeconds } = timeTicks(min, max, plotWidth(u), labelWidth);
        const half = labelWidth(withSeconds) / 2;
        for (const t of ticks) {
          const x = left + u.valToPos(t, 'x');
          // A label that would stick out of the chart is left off (its grid line stays).
          if (x - half >= 0 && x + half <= total) labels.push({ left: Math.round(x * 10) / 10, text: clock(t, withSeconds) });
        }
      }
      const top = (u.bbox.top + u.bbox.height) / uPlot.pxRatio + 6;
      setXLabels((cur) => (cur.top === top && JSON.stringify(cur.labels) === JSON.stringify(labels) ? cur : { top, labels }));
      const y = u.scales.y;
      if (y?.min != null && y.max != null) {
        const ymin = y.min;
        const ymax = y.max;
        setYScale((cur) => (cur && cur.min === ymin && cur.max === ymax ? cur : { min: ymin, max: ymax }));
      }
    };

    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, ...(yRange ? { y: { range: yRange } } : {}) },
      axes: [
        {
          stroke: muted,
          grid,
          ticks: { ...tickStroke, size: 4 },
          size: X_AXIS_PX,
          splits: (u, _axis, min, max) => timeTicks(min, max, plotWidth(u), labelWidth).ticks,
          // Drawn as DOM labels below (publish), not on the canvas.
          values: (_u, splits) => splits.map(() => ''),
        },
        { stroke: muted, grid, ticks: tickStroke, size: 56, values: (_u, vals) => vals.map((v) => `${+v.toFixed(2)}${unit}`) },
      ],
      // Points only where a value has no neighbour to draw a line to (one busy 10 s bucket between idle ones).
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, spanGaps: false, points: { show: true, size: 5, fill: s.color, filter: isolated } }))],
      hooks: { draw: [publish] },
    };
    const u = new uPlot(opts, [[], ...series.map(() => [])], el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Re-created only when the set of series, the size or the axis changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, height, unit, rangeKey]);

  useEffect(() => {
    plot.current?.setData([times.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [times, series]);

  return (
    <figure className="chart" data-testid={testId} data-y-min={yScale?.min} data-y-max={yScale?.max}>
      <figcaption>{title}</figcaption>
      <div className="chart-body">
        <div ref={host} className="chart-host" style={{ minHeight: height + 30 }} />
        <div ref={labelsBox} className="chart-x-labels" style={{ top: xLabels.top }} aria-hidden="true">
          {xLabels.labels.map((l) => (
            <span key={l.left} className="chart-x-label" style={{ left: l.left }} data-testid="chart-x-label">
              {l.text}
            </span>
          ))}
        </div>
      </div>
    </figure>
  );
}
