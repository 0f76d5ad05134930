// parse-prometheus-text-format ships no types; the shape follows prom2json.
declare module 'parse-prometheus-text-format' {
  export interface PromMetricFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
  }
  export default function parse(text: string): PromMetricFamily[];
}
