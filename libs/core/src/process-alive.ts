import { readFileSync } from "node:fs";

/** Whether a process of this host runs: it exists (as any user) and has not ended waiting for its parent to collect it. */
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // running, as another user
  }
  return !isZombie(pid);
}

/** Whether the process has ended and only waits for its parent to collect it (Linux; elsewhere, false). */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false;
  }
}
