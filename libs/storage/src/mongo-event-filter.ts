import type { Filter } from "mongodb";
import type { EventFilter } from "./event-filter.js";
import type { TrackedEvent } from "./event-store.js";

/** A tracking event as a MongoDB document. */
export type EventDoc = Pick<TrackedEvent, "experiment" | "run" | "event" | "dt" | "node" | "step" | "key"> & {
  /** The store-wide logging order. */
  _id: number;
  id?: string;
  /** The batch a columnar event came in. */
  batch?: string;
  vtype: number;
  num?: number;
  txt?: string;
};

const OPS = { "=": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte" } as const;

/** The checked filter as a MongoDB query, with the SQLite backend's semantics (value compares within its kind). */
export function mongoEventFilter(f: EventFilter): Filter<EventDoc> {
  switch (f.type) {
    case "and":
      return { $and: [mongoEventFilter(f.left), mongoEventFilter(f.right)] };
    case "or":
      return { $or: [mongoEventFilter(f.left), mongoEventFilter(f.right)] };
    case "not":
      return { $nor: [mongoEventFilter(f.expr)] };
    case "cond": {
      if (f.op === "isNull") return { vtype: 0 };
      if (f.op === "notNull") return { vtype: { $ne: 0 } };
      if (f.column !== "value") {
        if (f.op === "in") return { [f.column]: { $in: f.values } };
        if (f.op === "notIn") return { [f.column]: { $nin: f.values } };
        return { [f.column]: { [OPS[f.op]]: f.values[0] } };
      }
      const one = (v: number | string, op: keyof typeof OPS): Filter<EventDoc> =>
        typeof v === "number" ? { vtype: 1, num: { [OPS[op]]: v } } : { vtype: { $in: [2, 3] }, txt: { [OPS[op]]: v } };
      if (f.op === "in") return { $or: f.values.map((v) => one(v, "=")) };
      if (f.op === "notIn") return { $and: f.values.map((v) => one(v, "!=")) };
      return one(f.values[0]!, f.op);
    }
  }
}
