import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import type { BusMessage, BusOptions, BusReply, BusRequest, EventBus } from "../src/index.js";
import { Reader, str, text } from "./reader.js";

export interface BusFixture {
  bus: EventBus;
  cleanup: () => Promise<void>;
}

const ACK_WAIT = 400;
const LONG_ACK_WAIT = 30_000;

/** Asserts a promise rejects with a KilnError of this code and reason. */
async function rejectsWith(p: Promise<unknown>, code: Code, reason: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${reason}`).toBeDefined();
  if (!isKilnError(err)) throw err;
  expect({ code: err.code, reason: err.reason }).toEqual({ code, reason });
}

/** A promise and the function that resolves it. */
function signal<T = void>(): { promise: Promise<T>; fire: (value: T) => void } {
  let fire!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (fire = resolve));
  return { promise, fire };
}

/** The KilnError a promise rejects with (fails if it resolves or throws something else). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isKilnError(err)) throw new Error(`expected a KilnError, got ${String(err)}`);
  return err;
}

/** The one suite every EventBus backend passes. */
export function describeEventBus(name: string, makeBus: (options?: BusOptions) => Promise<BusFixture>): void {
  describe(`EventBus conformance: ${name}`, () => {
    let fx: BusFixture;
    let bus: EventBus;
    let stream: string;
    let subj: string;
    const readers: Reader[] = [];

    const durable = () => `d_${randomUUID().slice(0, 8)}`;
    const open = async (config: Omit<Parameters<EventBus["subscribe"]>[0], "stream"> & { stream?: string }) => {
      const r = new Reader(await bus.subscribe({ stream, ...config }));
      readers.push(r);
      return r;
    };
    const publishAll = async (...subjects: string[]) => {
      for (const [i, s] of subjects.entries()) await bus.publish(s, text(`m${i + 1}`));
    };

    beforeEach(async () => {
      fx = await makeBus();
      bus = fx.bus;
      const id = randomUUID().slice(0, 8);
      stream = `S_${id}`;
      subj = `t_${id}`;
    });

    afterEach(async () => {
      await Promise.all(readers.splice(0).map((r) => r.sub.stop()));
      await fx.cleanup();
    });

    describe("streams and publishing", () => {
      it("delivers stored messages in order with subject, data and headers", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await bus.publish(`${subj}.a`, text("one"), { headers: { "content-type": "text/plain", "X-Trace": "t1" } });
        await bus.publish(`${subj}.b.c`, text("two"));
        await bus.publish(`${subj}.a`, new Uint8Array([0, 255, 7]), { headers: { k: "v" } });

        const r = await open({ durable: durable(), deliverPolicy: "all" });
        const got = [await r.take(), await r.take(), await r.take()];

        expect(got.map((m) => m.subject)).toEqual([`${subj}.a`, `${subj}.b.c`, `${subj}.a`]);
        expect(str(got[0].data)).toBe("one");
        expect(str(got[1].data)).toBe("two");
        expect([...got[2].data]).toEqual([0, 255, 7]);
        expect(got[0].headers).toEqual({ "content-type": "text/plain", "X-Trace": "t1" });
        expect(got[1].headers).toEqual({});
        expect(got[2].headers).toEqual({ k: "v" });
        expect(got.map((m) => m.deliveryCount)).toEqual([1, 1, 1]);
        expect(got[1].seq).toBe(got[0].seq + 1);
        expect(got[2].seq).toBe(got[1].seq + 1);
      });

      it("rejects a publish to a subject no stream holds", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.a.>`] });
        await rejectsWith(bus.publish(`${subj}.b.x`, text("x")), Code.NotFound, "NO_STREAM_FOR_SUBJECT");
        await rejectsWith(bus.publish(`${subj}.a`, text("x")), Code.NotFound, "NO_STREAM_FOR_SUBJECT");
      });

      it("rejects wildcards in a publish subject", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await rejectsWith(bus.publish(`${subj}.*`, text("x")), Code.InvalidArgument, "INVALID_SUBJECT");
      });

      it("drops a second publish with the same msgId", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await bus.publish(`${subj}.x`, text("first"), { msgId: "id-1" });
        await bus.publish(`${subj}.x`, text("again"), { msgId: "id-1" });
        await bus.publish(`${subj}.x`, text("second"), { msgId: "id-2" });
        // The header is the dedupe id on the wire, so setting it directly counts too.
        await bus.publish(`${subj}.x`, text("header"), { headers: { "Nats-Msg-Id": "id-2" } });

        const r = await open({ durable: durable() });
        const a = await r.take();
        const b = await r.take();
        expect([str(a.data), str(b.data)]).toEqual(["first", "second"]);
        expect(a.headers["Nats-Msg-Id"]).toBe("id-1");
        expect(b.seq).toBe(a.seq + 1);
        await r.none(200);
      });

      it("ensureStream is idempotent and can add subjects", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.a.>`] });
        await bus.ensureStream({ name: stream, subjects: [`${subj}.a.>`] });
        await rejectsWith(bus.publish(`${subj}.b.x`, text("x")), Code.NotFound, "NO_STREAM_FOR_SUBJECT");
        await bus.ensureStream({ name: stream, subjects: [`${subj}.a.>`, `${subj}.b.>`] });
        await bus.publish(`${subj}.b.x`, text("x"));
        const r = await open({ durable: durable() });
        expect((await r.take()).subject).toBe(`${subj}.b.x`);
      });

      it("removes messages older than maxAgeMs, also when set on an existing stream", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await bus.publish(`${subj}.old`, text("old"));
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`], maxAgeMs: 300 });
        await new Promise((r) => setTimeout(r, 700));
        await bus.publish(`${subj}.new`, text("new"));
        const r = await open({ durable: durable() });
        expect((await r.take()).subject).toBe(`${subj}.new`);
        await r.none(200);
        await rejectsWith(bus.ensureStream({ name: stream, subjects: [`${subj}.>`], maxAgeMs: -1 }), Code.InvalidArgument, "INVALID_STREAM_CONFIG");
      });

      it("keeps a limits stream's messages for the bus's defaultMaxAgeMs unless the stream sets its own; a work queue's until acked", async () => {
        const other = await makeBus({ defaultMaxAgeMs: 300 });
        const events = other.bus;
        const readers: Reader[] = [];
        const read = async (config: Parameters<EventBus["subscribe"]>[0]) => {
          const r = new Reader(await events.subscribe(config));
          readers.push(r);
          return r;
        };
        try {
          await events.ensureStream({ name: `${stream}_E`, subjects: [`${subj}.e.>`] });
          await events.ensureStream({ name: `${stream}_K`, subjects: [`${subj}.k.>`], maxAgeMs: 60_000 });
          await events.ensureStream({ name: `${stream}_Q`, subjects: [`${subj}.q.>`], retention: "workqueue" });
          for (const s of ["e", "k", "q"]) await events.publish(`${subj}.${s}.old`, text("old"));
          await new Promise((r) => setTimeout(r, 700));
          await events.publish(`${subj}.e.new`, text("new"));
          const e = await read({ stream: `${stream}_E`, durable: durable() });
          expect((await e.take()).subject).toBe(`${subj}.e.new`);
          await e.none(200);
          expect((await (await read({ stream: `${stream}_K`, durable: durable() })).take()).subject).toBe(`${subj}.k.old`);
          expect((await (await read({ stream: `${stream}_Q`, durable: durable() })).take()).subject).toBe(`${subj}.q.old`);
        } finally {
          await Promise.all(readers.map((r) => r.sub.stop()));
          await other.cleanup();
        }
      });

      it("remembers a msgId no longer than the stream keeps messages", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`], maxAgeMs: 300 });
        await bus.publish(`${subj}.x`, text("first"), { msgId: "id-1" });
        await new Promise((r) => setTimeout(r, 700));
        await bus.publish(`${subj}.x`, text("again"), { msgId: "id-1" });
        const r = await open({ durable: durable() });
        expect(str((await r.take()).data)).toBe("again");
        await r.none(200);
      });

      it("refuses overlapping streams and a retention change", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await rejectsWith(
          bus.ensureStream({ name: `${stream}_2`, subjects: [`${subj}.a`] }),
          Code.FailedPrecondition,
          "STREAM_CONFIG_CONFLICT",
        );
        await rejectsWith(
          bus.ensureStream({ name: stream, subjects: [`${subj}.>`], retention: "workqueue" }),
          Code.FailedPrecondition,
          "STREAM_CONFIG_CONFLICT",
        );
      });
    });

    describe("consumers", () => {
      it("matches filters with * and >", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await publishAll(`${subj}.a.x`, `${subj}.b.x`, `${subj}.a.y.z`);

        const star = await open({ durable: durable(), filterSubject: `${subj}.a.*` });
        const tail = await open({ durable: durable(), filterSubject: `${subj}.a.>` });
        const mid = await open({ durable: durable(), filterSubject: `${subj}.*.x` });

        expect((await star.take()).subject).toBe(`${subj}.a.x`);
        expect([(await tail.take()).subject, (await tail.take()).subject]).toEqual([`${subj}.a.x`, `${subj}.a.y.z`]);
        expect([(await mid.take()).subject, (await mid.take()).subject]).toEqual([`${subj}.a.x`, `${subj}.b.x`]);
        await Promise.all([star.none(200), tail.none(200), mid.none(200)]);
      });

      it("rejects an unknown stream, a filter outside the stream and an unknown consumer", async () => {
        await rejectsWith(bus.subscribe({ stream, durable: durable() }), Code.NotFound, "STREAM_NOT_FOUND");
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await rejectsWith(
          bus.subscribe({ stream, durable: durable(), filterSubject: "elsewhere.>" }),
          Code.InvalidArgument,
          "FILTER_NOT_IN_STREAM",
        );
        await rejectsWith(bus.deleteConsumer(stream, "nobody"), Code.NotFound, "CONSUMER_NOT_FOUND");
      });

      it("gives every durable of a limits stream every message", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await publishAll(`${subj}.1`, `${subj}.2`);
        for (const r of [await open({ durable: durable() }), await open({ durable: durable() })]) {
          const a = await r.take();
          const b = await r.take();
          a.ack();
          b.ack();
          expect([a.subject, b.subject]).toEqual([`${subj}.1`, `${subj}.2`]);
        }
      });

      it("deliverPolicy new skips messages stored before the consumer", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await bus.publish(`${subj}.old`, text("old"));
        const r = await open({ durable: durable(), deliverPolicy: "new" });
        await bus.publish(`${subj}.new`, text("new"));
        expect((await r.take()).subject).toBe(`${subj}.new`);
        await r.none(200);
      });

      it("resumes a durable after stop: acked messages stay acked, unacked come back", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await publishAll(`${subj}.1`, `${subj}.2`, `${subj}.3`);
        const d = durable();

        const first = await open({ durable: d, ackWaitMs: ACK_WAIT });
        const m1 = await first.take();
        m1.ack();
        const m2 = await first.take();
        await first.sub.stop();
        expect(await first.ended()).toBe(true);

        const again = await open({ durable: d, ackWaitMs: ACK_WAIT });
        const got: BusMessage[] = [];
        while (got.length < 2) {
          const m = await again.take();
          // Ack at once: holding one while waiting for the other could outlast its ack wait.
          m.ack();
          got.push(m);
        }
        got.sort((a, b) => a.seq - b.seq);
        expect(got.map((m) => [m.subject, m.deliveryCount])).toEqual([
          [`${subj}.2`, 2],
          [`${subj}.3`, 1],
        ]);
        expect(got[0].seq).toBe(m2.seq);
        await again.none(ACK_WAIT + 200);
      });

      it("stop() ends a waiting iteration, break stops the subscription, the durable stays", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        const d = durable();
        const sub = await bus.subscribe({ stream, durable: d });
        const loop = (async () => {
          for await (const m of sub) m.ack();
          return "ended";
        })();
        await sub.stop();
        expect(await loop).toBe("ended");

        await publishAll(`${subj}.1`, `${subj}.2`);
        const sub2 = await bus.subscribe({ stream, durable: d });
        for await (const m of sub2) {
          expect(m.subject).toBe(`${subj}.1`);
          m.ack();
          break;
        }
        expect(await new Reader(sub2).ended(1_000)).toBe(true);

        // The break pulled nothing more, so the next message is a first delivery.
        const m2 = await (await open({ durable: d })).take();
        expect([m2.subject, m2.deliveryCount]).toEqual([`${subj}.2`, 1]);
      });

      it("drain() ends a waiting iteration; every message is handed out before it ends or left for the next reader", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        const d = durable();
        const waiting = await bus.subscribe({ stream, durable: d });
        const idle = (async () => {
          for await (const m of waiting) m.ack();
          return "ended";
        })();
        await waiting.drain();
        expect(await idle).toBe("ended");

        await publishAll(...Array.from({ length: 20 }, (_, i) => `${subj}.${i + 1}`));
        const sub = await bus.subscribe({ stream, durable: d });
        const seen: string[] = [];
        for await (const m of sub) {
          seen.push(m.subject);
          m.ack();
          if (seen.length === 1) await sub.drain();
        }
        // Whatever this reader did not get, the next one does: nothing is lost.
        const next = await open({ durable: d });
        while (seen.length < 20) {
          const m = await next.take();
          seen.push(m.subject);
          m.ack();
        }
        expect(seen.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `${subj}.${i + 1}`).sort());
        await next.none(300);
      });

      it("deleteConsumer ends its subscriptions; the same name then starts afresh", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await publishAll(`${subj}.1`);
        const d = durable();
        const r = await open({ durable: d });
        (await r.take()).ack();
        const ended = r.ended(5_000);
        await bus.deleteConsumer(stream, d);
        expect(await ended).toBe(true);

        const fresh = await open({ durable: d });
        expect((await fresh.take()).subject).toBe(`${subj}.1`);
      });
    });

    describe("acknowledgement", () => {
      it("redelivers a message not acked within ackWait, counting deliveries", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await bus.publish(`${subj}.job`, text("x"));
        const r = await open({ durable: durable(), ackWaitMs: ACK_WAIT });
        const first = await r.take();
        const t0 = Date.now();
        const second = await r.take();
        expect(Date.now() - t0).toBeGreaterThanOrEqual(ACK_WAIT - 100);
        expect([first.deliveryCount, second.deliveryCount]).toEqual([1, 2]);
        expect(second.seq).toBe(first.seq);
        second.ack();
        await r.none(ACK_WAIT + 200);
      });

      it("working() keeps a message from redelivery past its ackWait", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await bus.publish(`${subj}.job`, text("x"));
        const r = await open({ durable: durable(), ackWaitMs: ACK_WAIT });
        const m = await r.take();
        const beat = setInterval(() => m.working(), ACK_WAIT / 4);
        try {
          await r.none(ACK_WAIT * 2.5);
        } finally {
          clearInterval(beat);
        }
        // Once the heartbeats stop, the ack wait runs out as usual.
        const again = await r.take();
        expect([again.seq, again.deliveryCount]).toEqual([m.seq, 2]);
        again.ack();
      });

      it("nak() redelivers at once, nak(delay) after the delay", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await bus.publish(`${subj}.job`, text("x"));
        const r = await open({ durable: durable(), ackWaitMs: LONG_ACK_WAIT });
        const m1 = await r.take();
        m1.nak();
        const m2 = await r.take(2_000);
        expect([m2.seq, m2.deliveryCount]).toEqual([m1.seq, 2]);
        const t0 = Date.now();
        m2.nak(ACK_WAIT);
        const m3 = await r.take();
        expect(Date.now() - t0).toBeGreaterThanOrEqual(ACK_WAIT - 100);
        expect([m3.seq, m3.deliveryCount]).toEqual([m1.seq, 3]);
        m3.ack();
      });

      it("stops redelivering after maxDeliver", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await bus.publish(`${subj}.poison`, text("x"));
        const r = await open({ durable: durable(), ackWaitMs: ACK_WAIT, maxDeliver: 2 });
        expect((await r.take()).deliveryCount).toBe(1);
        const last = await r.take();
        expect(last.deliveryCount).toBe(2);
        last.nak();
        await r.none(ACK_WAIT * 2);
        // The consumer still serves other messages.
        await bus.publish(`${subj}.ok`, text("y"));
        expect((await r.take()).subject).toBe(`${subj}.ok`);
      });

      it("term() never redelivers", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
        await publishAll(`${subj}.1`, `${subj}.2`);
        const r = await open({ durable: durable(), ackWaitMs: ACK_WAIT });
        (await r.take()).term();
        const next = await r.take();
        expect(next.subject).toBe(`${subj}.2`);
        next.ack();
        await r.none(ACK_WAIT * 2);
      });
    });

    describe("work queues", () => {
      it("shares one durable between subscribers, each message to one of them", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`], retention: "workqueue" });
        const total = 12;
        for (let i = 0; i < total; i++) await bus.publish(`${subj}.job`, text(String(i)));
        const d = durable();
        const a = await open({ durable: d, ackWaitMs: LONG_ACK_WAIT });
        const b = await open({ durable: d, ackWaitMs: LONG_ACK_WAIT });

        // While a holds its message unacked, b must get another one.
        const a1 = await a.take();
        const b1 = await b.take();
        expect(b1.seq).not.toBe(a1.seq);

        const seen = new Map<number, string[]>();
        const record = (who: string, m: BusMessage) => seen.set(m.seq, [...(seen.get(m.seq) ?? []), who]);
        record("a", a1);
        record("b", b1);
        a1.ack();
        b1.ack();
        let done!: () => void;
        const allSeen = new Promise<void>((resolve) => (done = resolve));
        const drain = async (who: string, r: Reader) => {
          for (;;) {
            const m = await r.takeOrEnd(10_000);
            if (!m) return;
            record(who, m);
            m.ack();
            if (seen.size === total) done();
          }
        };
        const loops = [drain("a", a), drain("b", b)];
        await allSeen;
        await Promise.all([a.sub.stop(), b.sub.stop()]);
        await Promise.all(loops);

        expect(seen.size).toBe(total);
        expect([...seen.values()].filter((who) => who.length > 1)).toEqual([]);
      });

      it("removes acked and termed messages; a later consumer sees only the rest", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`], retention: "workqueue" });
        await publishAll(`${subj}.1`, `${subj}.2`, `${subj}.3`);
        const d1 = durable();
        const r = await open({ durable: d1, ackWaitMs: LONG_ACK_WAIT });
        (await r.take()).ack();
        (await r.take()).term();
        const held = await r.take();
        await r.sub.stop();
        await bus.deleteConsumer(stream, d1);

        const later = await open({ durable: durable(), ackWaitMs: LONG_ACK_WAIT });
        const m = await later.take();
        expect([m.seq, m.subject, m.deliveryCount]).toEqual([held.seq, `${subj}.3`, 1]);
        await later.none(300);
      });

      it("allows consumers with disjoint filters only, and only deliverPolicy all", async () => {
        await bus.ensureStream({ name: stream, subjects: [`${subj}.>`], retention: "workqueue" });
        await open({ durable: "by_a", filterSubject: `${subj}.a.>` });
        await open({ durable: "by_b", filterSubject: `${subj}.b.>` });
        // Binding the same durable again is not a second consumer.
        await open({ durable: "by_a", filterSubject: `${subj}.a.>` });
        const conflict = [Code.FailedPrecondition, "CONSUMER_CONFIG_CONFLICT"] as const;
        await rejectsWith(bus.subscribe({ stream, durable: "sub_a", filterSubject: `${subj}.a.x` }), ...conflict);
        await rejectsWith(bus.subscribe({ stream, durable: "all" }), ...conflict);
        await rejectsWith(
          bus.subscribe({ stream, durable: "new_c", filterSubject: `${subj}.c.>`, deliverPolicy: "new" }),
          ...conflict,
        );

        await publishAll(`${subj}.a.1`, `${subj}.b.1`);
        const [ra, rb] = readers.slice(0, 2);
        expect((await ra.take()).subject).toBe(`${subj}.a.1`);
        expect((await rb.take()).subject).toBe(`${subj}.b.1`);
      });
    });

    describe("request and reply", () => {
      const echo = (prefix: string) => async (req: BusRequest): Promise<BusReply> => ({
        data: text(`${prefix}${str(req.data)}`),
        headers: { ...req.headers, "X-Subject": req.subject },
      });

      it("a request gets its responder's reply, with headers both ways", async () => {
        const seen: BusRequest[] = [];
        let sent = false;
        let handledAfterSend = false;
        await bus.respond(`${subj}.greet`, "greeters", async (req) => {
          handledAfterSend = sent;
          seen.push(req);
          return { data: text(`hello ${str(req.data)}`), headers: { "X-Reply": "r1" } };
        });
        const pending = bus.request(`${subj}.greet`, text("kiln"), { headers: { "X-Trace": "t1" } });
        sent = true;
        const reply = await pending;
        // The handler never runs inside request() itself.
        expect(handledAfterSend).toBe(true);
        expect(str(reply.data)).toBe("hello kiln");
        expect(reply.headers).toEqual({ "X-Reply": "r1" });
        expect(seen.map((r) => [r.subject, str(r.data), r.headers])).toEqual([[`${subj}.greet`, "kiln", { "X-Trace": "t1" }]]);

        // Without headers either way, both sides see none.
        await bus.respond(`${subj}.bare`, "bare", async (req) => ({ data: req.data, headers: {} }));
        const bare = await bus.request(`${subj}.bare`, new Uint8Array([0, 255, 7]));
        expect([...bare.data]).toEqual([0, 255, 7]);
        expect(bare.headers).toEqual({});
      });

      it("splits requests between the members of a queue group", async () => {
        const answered = new Map<string, string[]>([["a", []], ["b", []]]);
        for (const who of ["a", "b"]) {
          await bus.respond(`${subj}.work`, "workers", async (req) => {
            answered.get(who)!.push(str(req.data));
            return { data: text(who), headers: {} };
          });
        }
        const replies = [];
        for (let i = 0; i < 20; i++) replies.push(str((await bus.request(`${subj}.work`, text(`job-${i}`))).data));

        const a = answered.get("a")!;
        const b = answered.get("b")!;
        expect(a.length).toBeGreaterThan(0);
        expect(b.length).toBeGreaterThan(0);
        expect(a.length + b.length).toBe(20);
        expect(new Set([...a, ...b]).size).toBe(20);
        expect(replies.filter((who) => who === "a").length).toBe(a.length);
      });

      it("delivers a request to every queue group; the first reply wins", async () => {
        const got = { fast: signal<string>(), slow: signal<string>() };
        const release = signal();
        await bus.respond(`${subj}.ask`, "fast", async (req) => {
          got.fast.fire(str(req.data));
          return { data: text("fast"), headers: {} };
        });
        await bus.respond(`${subj}.ask`, "slow", async (req) => {
          got.slow.fire(str(req.data));
          await release.promise;
          return { data: text("slow"), headers: {} };
        });
        const reply = await bus.request(`${subj}.ask`, text("q"));
        expect(str(reply.data)).toBe("fast");
        expect(await Promise.all([got.fast.promise, got.slow.promise])).toEqual(["q", "q"]);
        release.fire();
      });

      it("answers on a wildcard subject and checks subjects, queue names and timeouts", async () => {
        await bus.respond(`${subj}.items.*`, "items", echo("item "));
        await bus.respond(`${subj}.deep.>`, "deep", echo("deep "));
        const item = await bus.request(`${subj}.items.42`, text("x"));
        expect([str(item.data), item.headers["X-Subject"]]).toEqual(["item x", `${subj}.items.42`]);
        const deep = await bus.request(`${subj}.deep.a.b`, text("y"));
        expect([str(deep.data), deep.headers["X-Subject"]]).toEqual(["deep y", `${subj}.deep.a.b`]);

        await rejectsWith(bus.request(`${subj}.items.*`, text("x")), Code.InvalidArgument, "INVALID_SUBJECT");
        await rejectsWith(bus.respond(`${subj}..x`, "q", echo("")), Code.InvalidArgument, "INVALID_SUBJECT");
        await rejectsWith(bus.respond(`${subj}.x`, "a.b", echo("")), Code.InvalidArgument, "INVALID_NAME");
        await rejectsWith(bus.respond(`${subj}.x`, "", echo("")), Code.InvalidArgument, "INVALID_NAME");
        await rejectsWith(bus.request(`${subj}.items.1`, text("x"), { timeoutMs: 0 }), Code.InvalidArgument, "INVALID_TIMEOUT");
      });

      it("rejects with NO_RESPONDERS when nothing listens, also after stop()", async () => {
        await rejectsWith(bus.request(`${subj}.nobody`, text("x")), Code.Unavailable, "NO_RESPONDERS");
        const r = await bus.respond(`${subj}.once`, "once", echo(""));
        await rejectsWith(bus.request(`${subj}.other`, text("x")), Code.Unavailable, "NO_RESPONDERS");
        expect(str((await bus.request(`${subj}.once`, text("here"))).data)).toBe("here");
        await r.stop();
        await r.stop();
        await rejectsWith(bus.request(`${subj}.once`, text("x")), Code.Unavailable, "NO_RESPONDERS");
      });

      it("rejects with REQUEST_TIMEOUT when the handler is slow, and drops its late reply", async () => {
        const release = signal();
        let calls = 0;
        await bus.respond(`${subj}.slow`, "slow", async (req) => {
          if (++calls === 1) await release.promise;
          return { data: req.data, headers: {} };
        });
        const t0 = Date.now();
        await rejectsWith(bus.request(`${subj}.slow`, text("late"), { timeoutMs: 200 }), Code.DeadlineExceeded, "REQUEST_TIMEOUT");
        expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
        expect(Date.now() - t0).toBeLessThan(1_000);
        release.fire();
        // The first request's answer, sent now, reaches no one; the next request gets its own.
        expect(str((await bus.request(`${subj}.slow`, text("next"))).data)).toBe("next");
      });

      it("rejects with RESPONDER_FAILED and the handler's message, without its stack", async () => {
        await bus.respond(`${subj}.fail`, "fail", async () => {
          throw new Error("bad input: no such model");
        });
        const err = await rejection(bus.request(`${subj}.fail`, text("x")));
        expect(err).toMatchObject({ code: Code.Internal, reason: "RESPONDER_FAILED" });
        expect(err.message).toContain("bad input: no such model");
        expect(err.message).not.toMatch(/\n\s*at /);
        expect(JSON.stringify((err as { metadata?: unknown }).metadata ?? {})).not.toMatch(/\bat /);
      });

      it("stop() stops taking requests and resolves once the one in flight is answered", async () => {
        const entered = signal();
        const release = signal();
        const r = await bus.respond(`${subj}.inflight`, "inflight", async (req) => {
          entered.fire();
          await release.promise;
          return { data: text(`done ${str(req.data)}`), headers: {} };
        });
        const pending = bus.request(`${subj}.inflight`, text("x"));
        await entered.promise;
        let stopped = false;
        const stopping = r.stop().then(() => (stopped = true));
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(stopped).toBe(false);
        release.fire();
        await stopping;
        expect(str((await pending).data)).toBe("done x");
        await rejectsWith(bus.request(`${subj}.inflight`, text("y")), Code.Unavailable, "NO_RESPONDERS");
      });

      it("answers many concurrent requests, each with its own reply", async () => {
        await bus.respond(`${subj}.many.*`, "many", async (req) => {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
          return { data: text(`re:${str(req.data)}`), headers: { n: req.headers.n } };
        });
        const n = 200;
        const replies = await Promise.all(
          Array.from({ length: n }, (_, i) => bus.request(`${subj}.many.${i % 7}`, text(`req-${i}`), { headers: { n: String(i) } })),
        );
        expect(replies.map((r) => [str(r.data), r.headers.n])).toEqual(Array.from({ length: n }, (_, i) => [`re:req-${i}`, String(i)]));
      });

      it("carries a 1 MiB payload both ways", async () => {
        const big = new Uint8Array(1024 * 1024);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
        await bus.respond(`${subj}.big`, "big", async (req) => ({ data: req.data.map((b) => 255 - b), headers: {} }));
        const reply = await bus.request(`${subj}.big`, big);
        expect(reply.data.length).toBe(big.length);
        expect(reply.data.every((b, i) => b === 255 - big[i])).toBe(true);
      });

      it("close() rejects pending requests with BUS_CLOSED; request and respond then fail", async () => {
        const entered = signal();
        const release = signal();
        let answered = false;
        await bus.respond(`${subj}.closing`, "closing", async (req) => {
          entered.fire();
          await release.promise;
          answered = true;
          return { data: req.data, headers: {} };
        });
        const pending = bus.request(`${subj}.closing`, text("x"));
        await entered.promise;
        const closing = bus.close();
        await rejectsWith(pending, Code.Unavailable, "BUS_CLOSED");
        release.fire();
        await closing;
        // close() waited for the request its responder had taken.
        expect(answered).toBe(true);
        await rejectsWith(bus.request(`${subj}.closing`, text("x")), Code.Unavailable, "BUS_CLOSED");
        await rejectsWith(bus.respond(`${subj}.closing`, "closing", echo("")), Code.Unavailable, "BUS_CLOSED");
      });
    });

    it("close() ends open subscriptions and further calls fail", async () => {
      await bus.ensureStream({ name: stream, subjects: [`${subj}.>`] });
      const r = await open({ durable: durable() });
      const pending = r.ended(5_000);
      await bus.close();
      expect(await pending).toBe(true);
      await rejectsWith(bus.publish(`${subj}.x`, text("x")), Code.Unavailable, "BUS_CLOSED");
    });
  });
}
