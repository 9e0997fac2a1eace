/**
 * A deployment's explainer (the proto's Explainer) as the params of an explain request,
 * background_rows and so on: what it leaves unset (empty, 0) stays unset.
 */
export function explainerParams(e: { background: string; backgroundRows: number; method: string; permutations: number } | undefined): Record<string, string | number> {
  if (!e) return {};
  return {
    ...(e.background && { background: e.background }),
    ...(e.backgroundRows && { background_rows: e.backgroundRows }),
    ...(e.method && { method: e.method }),
    ...(e.permutations && { permutations: e.permutations }),
  };
}
