import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { linearRegressorOnnx } from "@kiln/onnx";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, startHarness, uniqueName, uploadStream, type Harness } from "./harness.js";

const P = "projects/default/models";
const D = "projects/default/deployments";

describe("holds: versions in use cannot be deleted", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  async function modelWithVersions(count: number): Promise<string> {
    const model = uniqueName();
    for (let i = 0; i < count; i++) await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, linearRegressorOnnx([i + 1], 0)));
    return model;
  }

  it("refuses to delete a held version or its model, names the holders, and deletes once released", async () => {
    const model = await modelWithVersions(3);
    const v = (n: number) => `${P}/${model}/versions/${n}`;
    const { missingVersions } = await h.client.setModelVersionHolds({
      holds: [
        { holder: `${D}/${model}-a`, versions: [v(2), v(3)] },
        { holder: `${D}/${model}-b`, versions: [v(2)] },
      ],
    });
    expect(missingVersions).toEqual([]);

    const refused = await codeOf(h.client.deleteModelVersion({ name: v(2) }));
    expect(refused).toMatchObject({ code: Code.FailedPrecondition, reason: "VERSION_IN_USE" });
    expect(refused.message).toContain(`${D}/${model}-a, ${D}/${model}-b`);
    expect(await codeOf(h.client.deleteModel({ name: `${P}/${model}` }))).toMatchObject({ code: Code.FailedPrecondition, reason: "MODEL_IN_USE" });
    // Refusals change nothing; a version nothing holds still goes.
    expect((await h.client.getModelVersion({ name: v(2) })).version!.holders).toEqual([`${D}/${model}-a`, `${D}/${model}-b`]);
    await h.client.deleteModelVersion({ name: v(1) });

    // What Get, List (one model's and the project's) and GetModel show.
    const listed = (await h.client.listModelVersions({ parent: `${P}/${model}` })).versions;
    expect(listed.map((x) => [x.version, x.holders])).toEqual([
      [3n, [`${D}/${model}-a`]],
      [2n, [`${D}/${model}-a`, `${D}/${model}-b`]],
    ]);
    const across = (await h.client.listModelVersions({ parent: `${P}/-`, pageSize: 1000 })).versions.filter((x) => x.name.startsWith(`${P}/${model}/`));
    expect(across.map((x) => x.holders.length)).toEqual([1, 2]);
    expect((await h.client.getModel({ name: `${P}/${model}` })).latest!.holders).toEqual([`${D}/${model}-a`]);

    // Setting a holder's versions replaces them: a moves to 3 alone, b releases all.
    await h.client.setModelVersionHolds({ holds: [{ holder: `${D}/${model}-a`, versions: [v(3)] }, { holder: `${D}/${model}-b`, versions: [] }] });
    expect((await h.client.getModelVersion({ name: v(2) })).version!.holders).toEqual([]);
    await h.client.deleteModelVersion({ name: v(2) });
    expect(await codeOf(h.client.deleteModelVersion({ name: v(3) }))).toMatchObject({ reason: "VERSION_IN_USE" });
    await h.client.setModelVersionHolds({ holds: [{ holder: `${D}/${model}-a`, versions: [] }] });
    await h.client.deleteModel({ name: `${P}/${model}` });
  });

  it("holds only versions that exist, and says which do not", async () => {
    const model = await modelWithVersions(1);
    const { missingVersions } = await h.client.setModelVersionHolds({
      holds: [{ holder: `${D}/${model}`, versions: [`${P}/${model}/versions/1`, `${P}/${model}/versions/7`, `${P}/gone-${model}/versions/1`] }],
    });
    expect(missingVersions).toEqual([`${P}/${model}/versions/7`, `${P}/gone-${model}/versions/1`]);
    expect((await h.client.getModelVersion({ name: `${P}/${model}/versions/1` })).version!.holders).toEqual([`${D}/${model}`]);
  });

  it("refuses bad holds and sets none of them", async () => {
    const model = await modelWithVersions(1);
    const v1 = `${P}/${model}/versions/1`;
    const bad = async (holder: string, versions: string[]) =>
      codeOf(h.client.setModelVersionHolds({ holds: [{ holder: `${D}/${model}-ok`, versions: [v1] }, { holder, versions }] }));
    expect(await bad("churn", [v1])).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_HOLDER" });
    expect(await bad(`${D}/x`, [`${P}/${model}/versions/prod`])).toMatchObject({ code: Code.InvalidArgument, reason: "VERSION_NUMBER_REQUIRED" });
    expect(await bad(`${D}/x`, [`${P}/${model}/versions/latest`])).toMatchObject({ reason: "VERSION_NUMBER_REQUIRED" });
    expect(await bad(`projects/other/deployments/x`, [v1])).toMatchObject({ code: Code.InvalidArgument, reason: "CROSS_PROJECT" });
    expect(await bad(`${D}/x`, Array.from({ length: 101 }, () => v1))).toMatchObject({ reason: "TOO_MANY_HOLDS" });
    expect((await h.client.getModelVersion({ name: v1 })).version!.holders).toEqual([]);
  });

  it("releases the holders of a collection that are not kept and were set before the time given", async () => {
    const model = await modelWithVersions(1);
    const v1 = `${P}/${model}/versions/1`;
    const at = (iso: string) => h.clientAt(() => new Date(iso));
    await at("2026-12-01T00:00:00Z").setModelVersionHolds({ holds: [{ holder: `${D}/${model}-gone`, versions: [v1] }, { holder: `${D}/${model}-kept`, versions: [v1] }] });
    await at("2026-12-01T00:00:00Z").setModelVersionHolds({ holds: [{ holder: `projects/default/pipelines/${model}`, versions: [v1] }] });
    await at("2026-12-01T00:10:00Z").setModelVersionHolds({ holds: [{ holder: `${D}/${model}-new`, versions: [v1] }] });

    const { released } = await h.client.releaseModelVersionHolds({
      holderCollection: "deployments",
      keep: [`${D}/${model}-kept`],
      setBefore: timestampFromDate(new Date("2026-12-01T00:05:00Z")),
    });
    expect(released.filter((x) => x.includes(model))).toEqual([`${D}/${model}-gone`]);
    expect((await h.client.getModelVersion({ name: v1 })).version!.holders).toEqual([`${D}/${model}-kept`, `${D}/${model}-new`, `projects/default/pipelines/${model}`]);

    expect(await codeOf(h.client.releaseModelVersionHolds({ holderCollection: "deployments", keep: [] }))).toMatchObject({ code: Code.InvalidArgument, reason: "SET_BEFORE_REQUIRED" });
    expect(await codeOf(h.client.releaseModelVersionHolds({ holderCollection: "Deploy/x", setBefore: timestampFromDate(new Date()) }))).toMatchObject({
      code: Code.InvalidArgument,
      reason: "INVALID_HOLDER_COLLECTION",
    });
  });
});
