import type { RecordBatch, Schema } from "apache-arrow";
import { ColumnProfiler } from "./column-profiler.js";
import type { TableProfileData } from "./types.js";

/** A table's profile, built batch by batch: one pass, memory bounded by the sample and value counts per column. */
export class TableProfiler {
  private rows = 0;
  private readonly columns: ColumnProfiler[];

  constructor(private readonly schema: Schema) {
    this.columns = schema.fields.map((f, i) => new ColumnProfiler(f, i + 1));
  }

  add(batch: RecordBatch): void {
    this.rows += batch.numRows;
    this.schema.fields.forEach((f, i) => this.columns[i]!.add(batch.getChild(f.name)!));
  }

  finish(): TableProfileData {
    return { rows: this.rows, columns: this.columns.map((c) => c.finish()) };
  }
}
