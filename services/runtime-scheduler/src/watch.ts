import { toJsonString } from "@bufbuild/protobuf";
import { JobSchema, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { isFinal, readJob, type Scheduler } from "./job-store.js";
import { parseJobName } from "./names.js";
import { JobChanges } from "./results.js";

/** The job now, then every different state of it, until a final one. */
export async function* watchJob(s: Scheduler, name: string): AsyncGenerator<Job> {
  parseJobName(name);
  const changes = new JobChanges(s, name);
  try {
    let { job } = await readJob(s, name);
    let last = toJsonString(JobSchema, job);
    yield job;
    while (!isFinal(job.state)) {
      job = await changes.next();
      const text = toJsonString(JobSchema, job);
      if (text === last) continue;
      last = text;
      yield job;
    }
  } finally {
    changes.close();
  }
}
