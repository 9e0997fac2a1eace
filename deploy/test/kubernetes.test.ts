import { describe, expect, it } from "vitest";
import { hasEntryPoint, undocumented } from "./documented.js";
import { environment, kubernetesPlan, readKustomization, services, workloads, type Container } from "./kubernetes-plan.js";
import { describeThroughProxy } from "./through-proxy.js";
import { AUTH_SECRET, KILN_AUTH_SECRET } from "./operator.js";

describe("deploy/kustomization.yaml and deploy/kubernetes", () => {
  const { kustomization, objects } = readKustomization();

  it("give every Service one workload whose container has the port it targets", () => {
    for (const s of services(objects)) {
      const selected = workloads(objects).filter((w) => Object.entries(s.spec!.selector as Record<string, string>).every(([k, v]) => w.spec!.template!.metadata.labels[k] === v));
      expect(selected.map((w) => w.metadata.name), s.metadata.name).toHaveLength(1);
      const ports = selected[0]!.spec!.template!.spec.containers.flatMap((c) => c.ports ?? []);
      for (const p of s.spec!.ports!) expect(ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort), `${s.metadata.name} → ${p.targetPort}`).toBe(true);
    }
  });

  it("select their pods by the labels of their templates and probe ports the containers have", () => {
    for (const w of workloads(objects)) {
      const template = w.spec!.template!;
      expect(template.metadata.labels).toMatchObject((w.spec!.selector as { matchLabels: Record<string, string> }).matchLabels);
      for (const c of template.spec.containers) {
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          if (probe?.httpGet) expect((c.ports ?? []).some((p) => p.name === probe.httpGet!.port || p.containerPort === probe.httpGet!.port), `${c.name} probe`).toBe(true);
        }
      }
    }
  });

  it("run each Kiln service from an entry point of the image, with documented variables, ready at /readyz", () => {
    const kilnContainers = workloads(objects).flatMap((w) => w.spec!.template!.spec.containers).filter((c: Container) => c.image === "kiln");
    expect(kilnContainers.map((c) => c.name).sort()).toEqual(["executor", "registry", "runtime-scheduler", "store", "tracking"]);
    for (const c of kilnContainers) {
      expect(hasEntryPoint(c.command![1]!), c.name).toBe(true);
      expect(undocumented(environment([...objects, KILN_AUTH_SECRET], c)), c.name).toEqual([]);
      if (c.name !== "executor") expect(c.readinessProbe?.httpGet?.path, c.name).toBe("/readyz");
    }
    expect(kustomization.images?.map((i) => i.name)).toContain("kiln");
  });

  it("keep the token secret out of the files: the services need the kiln-auth Secret the operator creates", () => {
    expect(() => kubernetesPlan()).toThrow(/envFrom names Secret kiln-auth, which is neither in the manifests nor created beside them/);
    for (const p of kubernetesPlan(undefined, [KILN_AUTH_SECRET]).kiln) expect(p.env.KILN_AUTH_SECRETS, p.name).toBe(AUTH_SECRET);
  });

  it("put the proxy's Caddyfile where its command reads it", () => {
    expect(kubernetesPlan(undefined, [KILN_AUTH_SECRET]).proxy.caddyfile).toMatch(/deploy\/proxy\/Caddyfile$/);
    expect(kubernetesPlan(undefined, [KILN_AUTH_SECRET]).proxy.addresses).toEqual(["kiln:80"]);
  });
});

// Executors named by their pods (KILN_EXECUTOR_ID from metadata.name), as the harness names them.
describeThroughProxy("the Kubernetes manifests' stack", () => kubernetesPlan(undefined, [KILN_AUTH_SECRET]), (names) => expect(names.sort()).toEqual(["executors/executor-0", "executors/executor-1"]));
