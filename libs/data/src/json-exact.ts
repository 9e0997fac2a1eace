/** At least 16 digits in a row: the only whole numbers a double may not hold (2^53 has 16). */
const LONG_DIGITS = /\d{16}/;
/** The mark as parsed, and as written into JSON text (a control character must be escaped there). */
const MARK = "\u0000kiln-int:";
const MARK_TEXT = "\\u0000kiln-int:";

/** A whole number of 16 digits or more where a JSON value starts and ends. */
const CANDIDATE = /(?<=[\s:,[])-?\d{16,}(?=[\s,\]}])/g;

/**
 * JSON.parse, but a whole number a double cannot hold exactly (an id past 2^53) comes back
 * as a bigint instead of rounded (beyond Int64, as its digits): Node 20's JSON.parse gives no
 * access to a number's text. Text without 16 digits in a row is parsed as it is. Otherwise
 * such numbers are written as marked strings (a mark no JSON text holds) and turned back as
 * they are parsed: found by a pattern first (a float's digits, after its ".", never match);
 * one the pattern found inside a string breaks that string (two strings in a row), so on a
 * syntax error the text is scanned string by string instead.
 */
export function parseJsonExact(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  let marked = false;
  const quick = text.replace(CANDIDATE, (literal) => {
    if (Number.isSafeInteger(Number(literal))) return literal;
    marked = true;
    return `"${MARK_TEXT}${literal}"`;
  });
  if (!marked) return JSON.parse(text);
  try {
    return JSON.parse(quick, revive);
  } catch {
    const careful = markLongIntegers(text);
    try {
      return JSON.parse(careful, revive);
    } catch {
      return JSON.parse(text); // throws the text's own syntax error, at its own position
    }
  }
}

function revive(_key: string, value: unknown): unknown {
  return typeof value === "string" && value.startsWith(MARK) ? exactInteger(value.slice(MARK.length)) : value;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An Int64's bigint; digits beyond Int64 stay text, as in a CSV (a column of them is Utf8). */
function exactInteger(digits: string): bigint | string {
  const n = BigInt(digits);
  return n >= INT64_MIN && n <= INT64_MAX ? n : digits;
}

/** The text with each integer literal outside strings that a double cannot hold written as a marked string. */
function markLongIntegers(text: string): string {
  let out = "";
  let copied = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string, escapes and all.
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      continue;
    }
    if (c !== 0x2d /* - */ && (c < 0x30 || c > 0x39)) continue;
    let end = i + 1;
    while (end < text.length && isNumberChar(text.charCodeAt(end))) end++;
    const literal = text.slice(i, end);
    if (/^-?\d{16,}$/.test(literal) && !Number.isSafeInteger(Number(literal))) {
      out += `${text.slice(copied, i)}"${MARK_TEXT}${literal}"`;
      copied = end;
    }
    i = end - 1;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e /* . */ || c === 0x65 /* e */ || c === 0x45 /* E */ || c === 0x2b /* + */ || c === 0x2d; /* - */
}
