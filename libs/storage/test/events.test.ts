import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteEventStore } from "../src/index.js";
import { describeEventStore } from "./event-conformance.js";

describeEventStore("SQLite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "kiln-events-"));
  const store = openSqliteEventStore(join(dir, "events.sqlite"));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
