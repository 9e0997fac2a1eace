import { clone } from "@bufbuild/protobuf";
import type { JsonValue } from "@bufbuild/protobuf";
import { invalidArgument, printable } from "@kiln/core";
import { JobSchema, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

const PLACEHOLDER = /\{\{\s*(.*?)\s*\}\}/g;
const DATE = /^date(_nodash)?(?:([+-])(\d{1,4}))?$/;
const DAY_MS = 86_400_000;

/** The text fields of a job a schedule fills in, by the names errors give them. */
function templatedFields(job: Job): { field: string; text: string; set(value: string): void }[] {
  const fields: { field: string; text: string; set(value: string): void }[] = [];
  const add = (field: string, text: string | undefined, set: (value: string) => void) => {
    if (text) fields.push({ field, text, set });
  };
  for (const [what, input] of [["x", job.x], ["y", job.y]] as const) {
    if (!input) continue;
    add(`job.${what}.dataset`, input.dataset, (v) => (input.dataset = v));
    add(`job.${what}.filter`, input.filter, (v) => (input.filter = v));
  }
  add("job.output_dataset", job.outputDataset, (v) => (job.outputDataset = v));
  if (job.params) addParams(job.params, "job.params", add);
  return fields;
}

function addParams(value: { [k: string]: JsonValue } | JsonValue[], path: string, add: (field: string, text: string, set: (v: string) => void) => void): void {
  for (const [key, v] of Object.entries(value)) {
    const field = Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`;
    if (typeof v === "string") add(field, v, (text) => ((value as Record<string, JsonValue>)[key] = text));
    else if (v !== null && typeof v === "object") addParams(v, field, add);
  }
}

export function hasTemplate(text: string | undefined): boolean {
  return !!text && /\{\{.*?\}\}/.test(text);
}

/** Fails INVALID_TEMPLATE on a placeholder that is not a date's. */
export function checkTemplates(job: Job): void {
  for (const { field, text } of templatedFields(clone(JobSchema, job))) {
    for (const [whole, inner] of text.matchAll(PLACEHOLDER)) {
      if (!DATE.test(inner!)) {
        throw invalidArgument(
          "INVALID_TEMPLATE",
          `${field} holds ${printable(whole)}: a schedule fills in {{date}}, {{date-N}}, {{date+N}} and {{date_nodash}} (with an offset too), the date it is due`,
        );
      }
    }
  }
}

/** The job with every placeholder replaced by the date `due` falls on in `timeZone`. */
export function expandTemplates(job: Job, due: Date, timeZone: string): Job {
  const expanded = clone(JobSchema, job);
  const day = calendarDay(due, timeZone);
  for (const f of templatedFields(expanded)) {
    if (hasTemplate(f.text)) f.set(f.text.replace(PLACEHOLDER, (whole, inner: string) => dateText(day, inner) ?? whole));
  }
  return expanded;
}

/** Midnight UTC of the calendar day `at` falls on in `timeZone`. */
function calendarDay(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric", day: "numeric" }).formatToParts(at);
  const part = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return Date.UTC(part("year"), part("month") - 1, part("day"));
}

function dateText(day: number, placeholder: string): string | undefined {
  const m = DATE.exec(placeholder);
  if (!m) return undefined;
  const offset = m[3] ? Number(m[3]) * (m[2] === "-" ? -1 : 1) : 0;
  const iso = new Date(day + offset * DAY_MS).toISOString().slice(0, 10);
  return m[1] ? iso.replaceAll("-", "") : iso;
}
