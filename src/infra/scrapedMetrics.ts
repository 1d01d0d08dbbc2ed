import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * A counter without labels whose value is read at scrape time from a count
 * the component keeps anyway: nothing is done per row or per request for
 * metrics.
 */
export function scrapedCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge without labels whose value is read at scrape time. */
export function scrapedGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
