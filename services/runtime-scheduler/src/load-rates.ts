/**
 * The requests a second this process's autoscaler measured last for each deployment it
 * scales, by scheduler (tests run several in one process), for GetDeployment to show.
 */
const rates = new WeakMap<object, Map<string, number>>();

export function loadRates(scheduler: object): Map<string, number> {
  let found = rates.get(scheduler);
  if (!found) rates.set(scheduler, (found = new Map()));
  return found;
}
