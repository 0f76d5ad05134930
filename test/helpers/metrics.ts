// /metrics of a running memswitchd, parsed with a Prometheus text-format parser.
import parsePrometheus, { type PromMetricFamily } from 'parse-prometheus-text-format';
import { expect } from 'vitest';

export type Scrape = Map<string, PromMetricFamily>;

export async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return new Map(parsePrometheus(await res.text()).map((f) => [f.name, f]));
}

/** The sample of `name` whose labels include `labels`; undefined when there is none. */
export function value(families: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample?.value === undefined ? undefined : Number(sample.value);
}
