import { createInterface } from "node:readline/promises";

/**
 * Asks a yes/no question on the terminal. Without a terminal (scripts, pipes) it refuses
 * rather than assume yes, with `refusal` saying which flag confirms up front.
 */
export async function confirm(question: string, refusal: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new Error(`${refusal} (there is no terminal to ask on)`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
