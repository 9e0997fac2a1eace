import { KilnError } from "../src/errors.js";

/** The KilnError a call threw; anything else fails the test. */
export function refusal(f: () => unknown): KilnError {
  try {
    f();
  } catch (e) {
    if (e instanceof KilnError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

/** The KilnError a promise was rejected with; a fulfilment or another error fails the test. */
export async function refusalOf(p: Promise<unknown>): Promise<KilnError> {
  return p.then(
    () => {
      throw new Error("expected a refusal");
    },
    (e: unknown) => {
      if (e instanceof KilnError) return e;
      throw e;
    },
  );
}
