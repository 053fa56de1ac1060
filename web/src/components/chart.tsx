// A uPlot line chart. `columns` is [xs, ys1, ys2, ...]; the chart redraws in
// place when they change. The container carries data-points (samples in the
// first series) and data-last (its newest value) so tests and screen
// readers can tell what is drawn.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Series {
  label: string;
  color: string;
  points?: boolean;
}

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];
export const color = (i: number) => COLORS[i % COLORS.length];

// Y-axis ticks with three significant digits, so small values (a cost of
// $0.00002, a latency of 0.02 ms) do not all read "0".
const tick = (v: number | null) => (v === null ? '' : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(Number(v.toPrecision(3))));

export function Chart(props: {
  title: string;
  columns: (number | null)[][];
  series: Series[];
  time?: boolean;
  xLabel?: string;
  height?: number;
  scatter?: boolean;
  testId?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const seriesKey = props.series.map((s) => s.label).join('|');

  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: props.height ?? 200,
      scales: { x: { time: props.time ?? false } },
      axes: [{ label: props.xLabel }, { values: (_u, splits) => splits.map(tick), size: 72 }],
      legend: { live: true },
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          spanGaps: true,
          points: { show: props.scatter || s.points || undefined },
          paths: props.scatter ? () => null : undefined,
        })),
      ],
    };
    const u = new uPlot(opts, props.columns as uPlot.AlignedData, el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 200), height: props.height ?? 200 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [seriesKey, props.time, props.scatter]);

  useEffect(() => {
    plot.current?.setData(props.columns as uPlot.AlignedData);
  }, [props.columns]);

  const last = props.columns[1] ?? [];
  const newest = last.length ? last[last.length - 1] : null;
  return (
    <figure class="chart" data-testid={props.testId} data-points={last.length} data-last={newest ?? ''}>
      <figcaption>{props.title}</figcaption>
      <div ref={box} />
      {last.length === 0 && <p class="muted">no data yet</p>}
    </figure>
  );
}
