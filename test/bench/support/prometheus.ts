/** One sample of a Prometheus metric: its labels and value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Fetches a Prometheus text endpoint and returns every sample of one metric. */
export async function scrapeMetric(url: string, metric: string): Promise<Sample[]> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return parseMetric(await response.text(), metric);
}

/** The samples of one metric in Prometheus text exposition format. */
export function parseMetric(text: string, metric: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match || match[1] !== metric) continue;
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name!] = value!;
    samples.push({ labels, value: Number(match[3]) });
  }
  return samples;
}
