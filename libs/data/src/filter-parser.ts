import { FilterSyntaxError } from "./errors.js";

/**
 * Row filters, SQL-like: comparisons (= != <> < <= > >=) of a column with a literal,
 * IN / NOT IN lists, IS [NOT] NULL, AND (binds tighter), OR, NOT, parentheses.
 * Columns are identifiers (dots allowed, e.g. labels.team) or `backtick quoted`;
 * strings are "double" or 'single' quoted.
 */
export type Literal = { kind: "number"; value: number; /** A whole number's exact value, for Int64 columns past 2^53. */ integer?: bigint } | { kind: "string"; value: string } | { kind: "boolean"; value: boolean } | { kind: "null" };

export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

export type FilterExpr =
  | { type: "and" | "or"; left: FilterExpr; right: FilterExpr }
  | { type: "not"; expr: FilterExpr }
  | { type: "compare"; column: string; op: CompareOp; value: Literal; position: number }
  | { type: "in"; column: string; values: Literal[]; negated: boolean; position: number }
  | { type: "isNull"; column: string; negated: boolean; position: number };

type Token =
  | { t: "ident"; v: string; pos: number }
  | { t: "keyword"; v: string; pos: number }
  | { t: "literal"; v: Literal; pos: number }
  | { t: "op"; v: string; pos: number }
  | { t: "end"; pos: number };

const KEYWORDS = new Set(["AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE"]);
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_.]*/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = text.slice(i);
    const op = /^(<=|>=|!=|<>|=|<|>|\(|\)|,)/.exec(rest);
    const num = NUMBER.exec(rest);
    if (num && (/\d|\./.test(c) || (/[-+]/.test(c) && /[\d.]/.test(text[i + 1] ?? "")))) {
      const integer = /^[-+]?\d+$/.test(num[0]) ? BigInt(num[0]) : undefined;
      tokens.push({ t: "literal", v: { kind: "number", value: Number(num[0]), ...(integer !== undefined && { integer }) }, pos: i });
      i += num[0].length;
    } else if (op) {
      tokens.push({ t: "op", v: op[0] === "<>" ? "!=" : op[0], pos: i });
      i += op[0].length;
    } else if (c === '"' || c === "'" || c === "`") {
      const { value, end } = readQuoted(text, i);
      tokens.push(c === "`" ? { t: "ident", v: value, pos: i } : { t: "literal", v: { kind: "string", value }, pos: i });
      i = end;
    } else if (IDENT.test(rest)) {
      const word = IDENT.exec(rest)![0];
      const upper = word.toUpperCase();
      if (upper === "TRUE" || upper === "FALSE") tokens.push({ t: "literal", v: { kind: "boolean", value: upper === "TRUE" }, pos: i });
      else if (upper === "NULL") tokens.push({ t: "keyword", v: "NULL", pos: i });
      else if (KEYWORDS.has(upper)) tokens.push({ t: "keyword", v: upper, pos: i });
      else tokens.push({ t: "ident", v: word, pos: i });
      i += word.length;
    } else {
      throw new FilterSyntaxError(`unexpected character "${c}"`, i);
    }
  }
  tokens.push({ t: "end", pos: text.length });
  return tokens;
}

/** A quoted string or identifier; the quote is escaped by doubling it or with a backslash. */
function readQuoted(text: string, start: number): { value: string; end: number } {
  const quote = text[start];
  let value = "";
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length) {
      value += text[i + 1];
      i += 2;
    } else if (c === quote && text[i + 1] === quote) {
      value += quote;
      i += 2;
    } else if (c === quote) {
      return { value, end: i + 1 };
    } else {
      value += c;
      i++;
    }
  }
  throw new FilterSyntaxError(`unterminated ${quote === "`" ? "quoted column" : "string"} starting`, start);
}

export function parseFilter(text: string): FilterExpr {
  const tokens = tokenize(text);
  let k = 0;
  const peek = () => tokens[k];
  const isKeyword = (v: string) => peek().t === "keyword" && (peek() as { v: string }).v === v;
  const isOp = (v: string) => peek().t === "op" && (peek() as { v: string }).v === v;
  const describe = (tok: Token) => (tok.t === "end" ? "the end" : `"${text.slice(tok.pos, tok.pos + 12).split(/\s/)[0]}"`);
  const fail = (what: string): never => {
    throw new FilterSyntaxError(`expected ${what} but found ${describe(peek())}`, peek().pos);
  };

  const orExpr = (): FilterExpr => {
    let left = andExpr();
    while (isKeyword("OR")) {
      k++;
      left = { type: "or", left, right: andExpr() };
    }
    return left;
  };
  const andExpr = (): FilterExpr => {
    let left = notExpr();
    while (isKeyword("AND")) {
      k++;
      left = { type: "and", left, right: notExpr() };
    }
    return left;
  };
  const notExpr = (): FilterExpr => {
    if (isKeyword("NOT")) {
      k++;
      return { type: "not", expr: notExpr() };
    }
    return primary();
  };
  const literal = (): Literal => {
    const tok = peek();
    if (tok.t === "literal") {
      k++;
      return tok.v;
    }
    if (tok.t === "keyword" && tok.v === "NULL") {
      k++;
      return { kind: "null" };
    }
    return fail("a value");
  };
  const primary = (): FilterExpr => {
    if (isOp("(")) {
      k++;
      const inner = orExpr();
      if (!isOp(")")) fail('")"');
      k++;
      return inner;
    }
    const tok = peek();
    if (tok.t !== "ident") return fail("a column name");
    k++;
    const column = tok.v;
    const position = tok.pos;
    if (isKeyword("IS")) {
      k++;
      const negated = isKeyword("NOT");
      if (negated) k++;
      if (!isKeyword("NULL")) fail("NULL");
      k++;
      return { type: "isNull", column, negated, position };
    }
    const negated = isKeyword("NOT");
    if (negated) k++;
    if (isKeyword("IN")) {
      k++;
      if (!isOp("(")) fail('"(" after IN');
      k++;
      const values = [literal()];
      while (isOp(",")) {
        k++;
        values.push(literal());
      }
      if (!isOp(")")) fail('"," or ")"');
      k++;
      return { type: "in", column, values, negated, position };
    }
    if (negated) fail("IN after NOT");
    const op = peek();
    if (op.t !== "op" || !["=", "!=", "<", "<=", ">", ">="].includes(op.v)) return fail("a comparison (=, !=, <, <=, >, >=, IN, IS)");
    k++;
    return { type: "compare", column, op: op.v as CompareOp, value: literal(), position };
  };

  if (peek().t === "end") throw new FilterSyntaxError("the filter is empty", 0);
  const expr = orExpr();
  if (peek().t !== "end") fail("AND, OR or the end");
  return expr;
}

/** Every column the filter names. */
export function filterColumns(expr: FilterExpr): string[] {
  switch (expr.type) {
    case "and":
    case "or":
      return [...new Set([...filterColumns(expr.left), ...filterColumns(expr.right)])];
    case "not":
      return filterColumns(expr.expr);
    default:
      return [expr.column];
  }
}
