import { cpus, freemem, hostname, loadavg, totalmem } from "node:os";
import { statfsSync } from "node:fs";

/** One sample of the machine, as omega-ml's profiling provider records it. */
export function sampleMachine(): Record<string, number> {
  const total = totalmem();
  const sample: Record<string, number> = {
    memory_load: (total - freemem()) / total,
    memory_total: total,
    cpu_count: cpus().length,
    cpu_load: loadavg()[0]! / cpus().length,
    cpu_avg: loadavg()[1]! / cpus().length,
  };
  try {
    const fs = statfsSync(process.cwd());
    sample.disk_total = fs.blocks * fs.bsize;
    sample.disk_use = (fs.blocks - fs.bfree) / fs.blocks;
  } catch {
    // no file system to measure (e.g. a sandbox)
  }
  return sample;
}

export function hostName(): string {
  return hostname();
}
