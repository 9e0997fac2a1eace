import { MongoBulkWriteError, MongoClient, MongoServerError, type Collection, type Filter } from "mongodb";
import { checkEventFilter } from "./event-filter.js";
import { EventPageBuilder } from "./event-page.js";
import { toEventSummary } from "./event-summaries.js";
import { mongoEventFilter, type EventDoc } from "./mongo-event-filter.js";
import { EVENT_VALUE_TYPES, type EventQuery, type EventStore, type TrackedEvent } from "./event-store.js";

const DUPLICATE_KEY = 11000;

/**
 * Tracking events in MongoDB: one document per event, _id a store-wide sequence reserved
 * a block at a time, a unique (partial) index on event ids, and one document per columnar
 * batch. Without multi-document transactions a batch is claimed with its block of _ids
 * first, rows written with those _ids (an overlapping retry writes duplicates of the same
 * keys, never second rows), and the claim marked done last. Summaries are the database's
 * aggregation over the events when asked for: without transactions, a table kept beside
 * them could count a retried write twice.
 */
export async function openMongoEventStore(uri: string, database: string): Promise<EventStore> {
  const client = await new MongoClient(uri).connect();
  const db = client.db(database);
  const events = db.collection<EventDoc>("tracking_events");
  const batches = db.collection<{ _id: string; experiment: string; first: number; n: number; done: boolean }>("tracking_batches");
  const counters = db.collection<{ _id: string; seq: number }>("tracking_counters");
  await events.createIndex({ id: 1 }, { unique: true, partialFilterExpression: { id: { $type: "string" } } });
  await events.createIndex({ experiment: 1, run: 1, _id: 1 });

  /** Reserves n sequence numbers; returns the first. */
  const reserve = async (n: number): Promise<number> => {
    const doc = await counters.findOneAndUpdate({ _id: "events" }, { $inc: { seq: n } }, { upsert: true, returnDocument: "after" });
    return doc!.seq - n + 1;
  };

  return {
    async append(list) {
      if (list.length === 0) return { accepted: 0, duplicates: 0 };
      const first = await reserve(list.length);
      const docs = list.map((e, i) => toDoc(e, first + i));
      const accepted = await insertIgnoringDuplicates(events, docs);
      return { accepted, duplicates: list.length - accepted };
    },
    async appendBatch(b) {
      const n = b.event.length;
      // Claim the batch with its block of sequence numbers first: every attempt then writes
      // the same _ids (a repeat is a duplicate key, not a second row) and nothing is deleted.
      let claim = await batches.findOne({ _id: b.batchId });
      if (!claim) {
        const first = await reserve(n);
        claim = { _id: b.batchId, experiment: b.experiment, first, n, done: false };
        await batches.insertOne(claim).catch(async (e: unknown) => {
          if (!(e instanceof MongoServerError && e.code === DUPLICATE_KEY)) throw e;
          claim = await batches.findOne({ _id: b.batchId }); // another attempt claimed it
        });
      }
      if (!claim || claim.done) return { accepted: 0, duplicates: n };
      const docs: EventDoc[] = [];
      let t = 0;
      for (let i = 0; i < n; i++) {
        const vtype = b.valueType[i]!;
        const doc: EventDoc = {
          _id: claim.first + i,
          batch: b.batchId,
          experiment: b.experiment,
          run: b.run,
          event: b.strings[b.event[i]!]!,
          dt: b.dt[i]!,
          node: b.strings[b.node[i]!]!,
          step: b.step[i]!,
          key: b.strings[b.key[i]!]!,
          vtype,
        };
        if (vtype === 1) doc.num = b.number[i]!;
        else if (vtype >= 2) doc.txt = b.text[t++]!;
        docs.push(doc);
      }
      if (docs.length) await insertIgnoringDuplicates(events, docs);
      const done = await batches.updateOne({ _id: b.batchId, done: false }, { $set: { done: true } });
      return done.modifiedCount ? { accepted: n, duplicates: 0 } : { accepted: 0, duplicates: n };
    },
    async *query(q: EventQuery) {
      const conditions: Filter<EventDoc>[] = [{ experiment: q.experiment }];
      if ("runs" in q.runs) conditions.push({ run: { $in: q.runs.runs } });
      else if ("from" in q.runs) conditions.push({ run: { $gte: q.runs.from, $lte: q.runs.to } });
      if (q.events) conditions.push({ event: { $in: q.events } });
      if (q.filter) conditions.push(mongoEventFilter(checkEventFilter(q.filter)));
      const pageSize = q.pageSize ?? 10_000;
      const cursor = events.find({ $and: conditions }).sort({ run: 1, _id: 1 }).batchSize(Math.min(pageSize, 10_000));
      const page = new EventPageBuilder(pageSize);
      try {
        for await (const d of cursor) {
          page.add(d.run, d.event, d.dt, d.node, d.step, d.key, d.vtype, d.num ?? null, d.txt ?? null);
          if (page.full) yield page.take();
        }
        if (page.length) yield page.take();
      } finally {
        await cursor.close();
      }
    },
    async summarize(q) {
      // Worked out by the database from the events (one pass over the runs' events of these kinds, in the server).
      const match: Filter<EventDoc> = { experiment: q.experiment, event: { $in: q.events } };
      if (q.keys) match.key = { $in: [...q.keys] };
      if ("runs" in q.runs) match.run = { $in: q.runs.runs };
      else if ("from" in q.runs) match.run = { $gte: q.runs.from, $lte: q.runs.to };
      const number = { $cond: [{ $and: [{ $eq: ["$vtype", 1] }, { $ne: ["$num", NaN] }] }, "$num", null] };
      const rows = events.aggregate<{ _id: { run: number; event: string; key: string }; step: number; dt: number; vtype: number; num: number | null; txt: string | null; lo: number | null; hi: number | null; numbers: number }>(
        [
          { $match: match },
          // The latest is the last of (step, dt, logging order).
          { $sort: { run: 1, event: 1, key: 1, step: 1, dt: 1, _id: 1 } },
          {
            $group: {
              _id: { run: "$run", event: "$event", key: "$key" },
              step: { $last: "$step" },
              dt: { $last: "$dt" },
              vtype: { $last: "$vtype" },
              num: { $last: "$num" },
              txt: { $last: "$txt" },
              lo: { $min: number },
              hi: { $max: number },
              numbers: { $sum: { $cond: [{ $eq: ["$vtype", 1] }, 1, 0] } },
            },
          },
          { $sort: { "_id.run": 1, "_id.event": 1, "_id.key": 1 } },
        ],
        { allowDiskUse: true },
      );
      return (await rows.toArray()).map((r) => toEventSummary({ ...r._id, step: r.step, dt: r.dt, vtype: r.vtype, num: r.num, txt: r.txt, lo: r.lo, hi: r.hi, numbers: r.numbers }));
    },
    async ranked(q) {
      const direction = q.descending ? -1 : 1;
      const past = q.descending ? "$lt" : "$gt";
      const after: Filter<{ _id: number; num: number }>[] = q.after ? [{ $or: [{ num: { [past]: q.after.number } }, { num: q.after.number, _id: { [past]: q.after.run } }] }] : [];
      const rows = events.aggregate<{ _id: number; num: number }>(
        [
          { $match: { experiment: q.experiment, event: q.event, key: q.key } },
          // Each run's latest (the last of step, dt, logging order), as summarize finds it.
          { $sort: { run: 1, step: 1, dt: 1, _id: 1 } },
          { $group: { _id: "$run", vtype: { $last: "$vtype" }, num: { $last: "$num" } } },
          // NaN equals NaN in a query, so $ne leaves it out.
          { $match: { $and: [{ vtype: 1, num: { $ne: NaN } }, ...after] } },
          { $sort: { num: direction, _id: direction } },
          { $limit: q.limit },
          { $project: { num: 1 } },
        ],
        { allowDiskUse: true },
      );
      return (await rows.toArray()).map((r) => ({ run: r._id, number: r.num }));
    },
    async deleteExperiment(experiment) {
      await batches.deleteMany({ experiment });
      return (await events.deleteMany({ experiment })).deletedCount;
    },
    async close() {
      await client.close();
    },
  };
}

async function insertIgnoringDuplicates(events: Collection<EventDoc>, docs: EventDoc[]): Promise<number> {
  try {
    return (await events.insertMany(docs, { ordered: false })).insertedCount;
  } catch (e) {
    // Only per-document duplicate keys mean "already stored"; a bulk error without write
    // errors (e.g. a network or permission failure) or with a write-concern error is a failure.
    const writeErrors = e instanceof MongoBulkWriteError ? [e.writeErrors].flat() : [];
    const onlyDuplicates = writeErrors.length > 0 && writeErrors.every((w) => w.code === DUPLICATE_KEY);
    if (e instanceof MongoBulkWriteError && onlyDuplicates && !e.result?.getWriteConcernError()) return e.insertedCount;
    throw e;
  }
}

function toDoc(e: TrackedEvent, seq: number): EventDoc {
  const doc: EventDoc = { _id: seq, id: e.id, experiment: e.experiment, run: e.run, event: e.event, dt: e.dt, node: e.node, step: e.step, key: e.key, vtype: EVENT_VALUE_TYPES.indexOf(e.valueType) };
  if (e.valueType === "number") doc.num = e.number;
  else if (e.text !== undefined) doc.txt = e.text;
  return doc;
}
