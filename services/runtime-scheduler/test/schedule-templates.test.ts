import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { JobKind, JobSchema } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { checkTemplates, expandTemplates } from "../src/schedule-templates.js";

const P = "projects/default/datasets";

describe("a schedule's date templates", () => {
  const job = create(JobSchema, {
    kind: JobKind.PREDICT,
    x: { dataset: `${P}/requests-{{date-1}}`, filter: 'day = "{{ date }}" AND id > 0' },
    y: { dataset: `${P}/labels-{{date_nodash-7}}` },
    outputDataset: `${P}/scores-{{date_nodash}}`,
    params: { note: "run of {{date}}", nested: { days: ["{{date+1}}", 3] }, n: 5 },
  });

  it("fills in the date the occurrence is due, in the schedule's time zone, with offsets", () => {
    const utc = expandTemplates(job, new Date("2026-03-01T00:30:00Z"), "UTC");
    expect(utc.x!.dataset).toBe(`${P}/requests-2026-02-28`);
    expect(utc.x!.filter).toBe('day = "2026-03-01" AND id > 0');
    expect(utc.y!.dataset).toBe(`${P}/labels-20260222`);
    expect(utc.outputDataset).toBe(`${P}/scores-20260301`);
    expect(utc.params).toEqual({ note: "run of 2026-03-01", nested: { days: ["2026-03-02", 3] }, n: 5 });
    // 00:30 UTC is still the evening before in New York; the job as given is unchanged.
    expect(expandTemplates(job, new Date("2026-03-01T00:30:00Z"), "America/New_York").x!.dataset).toBe(`${P}/requests-2026-02-27`);
    expect(job.x!.dataset).toBe(`${P}/requests-{{date-1}}`);
  });

  it("crosses months, years and leap days", () => {
    const at = (iso: string, dataset: string) => expandTemplates(create(JobSchema, { x: { dataset } }), new Date(iso), "UTC").x!.dataset;
    expect(at("2027-01-01T02:00:00Z", "d-{{date-1}}")).toBe("d-2026-12-31");
    expect(at("2028-02-28T02:00:00Z", "d-{{date+1}}")).toBe("d-2028-02-29");
    expect(at("2026-12-05T02:00:00Z", "d-{{date-365}}")).toBe("d-2025-12-05");
  });

  it("refuses any other placeholder, naming the field", () => {
    const refused = (fields: Parameters<typeof create<typeof JobSchema>>[1]) => {
      try {
        checkTemplates(create(JobSchema, fields));
        return undefined;
      } catch (e) {
        return e as { reason: string; message: string };
      }
    };
    expect(refused({ x: { dataset: "d-{{ds}}" } })).toMatchObject({ reason: "INVALID_TEMPLATE", message: expect.stringContaining("job.x.dataset holds {{ds}}") });
    expect(refused({ params: { a: { b: "{{date*2}}" } } })).toMatchObject({ reason: "INVALID_TEMPLATE", message: expect.stringContaining("job.params.a.b") });
    expect(refused({ x: { dataset: "d-{{date-1}}" }, params: { a: "{{date_nodash+2}}" } })).toBeUndefined();
  });
});
