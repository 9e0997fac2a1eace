/** A randomState as a seed: the number itself, or, for null (sklearn's None), a fresh one. */
export function seedOf(randomState: number | null | undefined): number {
  if (randomState === null || randomState === undefined) return Math.floor(Math.random() * 2 ** 32);
  return randomState >>> 0;
}
