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
      axes: [{ label: props.xLabel }, {}],
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
