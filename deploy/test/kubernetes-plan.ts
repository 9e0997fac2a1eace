import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { DEPLOY, scriptOf, servesPort, type KilnProcess, type StackPlan } from "./plan.js";

type Labels = Record<string, string>;
interface Port {
  name?: string;
  containerPort: number;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: ({ configMapRef: { name: string } } | { secretRef: { name: string } })[];
  ports?: Port[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string }[];
}
export interface PodTemplate {
  metadata: { labels: Labels };
  spec: { containers: Container[]; volumes?: { name: string; configMap?: { name: string } }[] };
}
export interface KubeObject {
  kind: string;
  metadata: { name: string; labels?: Labels };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: Labels | { matchLabels: Labels };
    template?: PodTemplate;
    ports?: { name?: string; port: number; targetPort: string | number }[];
  };
}
export interface Kustomization {
  resources: string[];
  configMapGenerator?: { name: string; files: string[] }[];
  images?: { name: string }[];
}

/** A pod's own name, which the harness fills in per replica (Kubernetes' fieldRef metadata.name). */
export const POD_NAME = "$(pod)";

export function readKustomization(dir = DEPLOY): { kustomization: Kustomization; objects: KubeObject[] } {
  const kustomization = parse(readFileSync(join(dir, "kustomization.yaml"), "utf8")) as Kustomization;
  const objects = kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJS() as KubeObject;
    }),
  );
  return { kustomization, objects };
}

export const workloads = (objects: KubeObject[]) => objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
export const services = (objects: KubeObject[]) => objects.filter((o) => o.kind === "Service");

const matches = (selector: Labels, labels: Labels) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** "service:port" for every Service port that reaches this workload's container port. */
export function addressesOf(objects: KubeObject[], workload: KubeObject, containerPort: number): string[] {
  const pod = workload.spec!.template!;
  const ports = pod.spec.containers.flatMap((c) => c.ports ?? []);
  return services(objects)
    .filter((s) => matches(s.spec!.selector as Labels, pod.metadata.labels))
    .flatMap((s) =>
      s.spec!.ports!.filter((p) => (typeof p.targetPort === "number" ? p.targetPort : ports.find((cp) => cp.name === p.targetPort)?.containerPort) === containerPort).map((p) => `${s.metadata.name}:${p.port}`),
    );
}

/** A container's environment as the kubelet gives it: envFrom's ConfigMaps and Secrets, then env. */
export function environment(objects: KubeObject[], container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const [kind, name] = "configMapRef" in from ? ["ConfigMap", from.configMapRef.name] : ["Secret", from.secretRef.name];
    const source = objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (!source) throw new Error(`${container.name}: envFrom names ${kind} ${name}, which is neither in the manifests nor created beside them`);
    Object.assign(env, source.data, source.stringData);
  }
  for (const v of container.env ?? []) {
    if (v.valueFrom?.fieldRef?.fieldPath === "metadata.name") env[v.name] = POD_NAME;
    else if (v.value !== undefined) env[v.name] = v.value;
    else throw new Error(`${container.name}: ${v.name} has neither a value nor metadata.name`);
  }
  return env;
}

/** The Caddyfile a proxy container reads: the generated ConfigMap's file, mounted where --config points. */
function caddyfileOf(kustomization: Kustomization, pod: PodTemplate, container: Container, dir: string): string {
  const args = [...(container.command ?? []), ...(container.args ?? [])];
  const config = args[args.indexOf("--config") + 1]!;
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.spec.volumes?.find((v) => v.name === mount.name);
    const generator = kustomization.configMapGenerator?.find((g) => g.name === volume?.configMap?.name);
    for (const file of generator?.files ?? []) {
      const [key, path] = file.includes("=") ? file.split("=") : [file.split("/").at(-1)!, file];
      if (`${mount.mountPath}/${key}` === config) return join(dir, path!);
    }
  }
  throw new Error(`proxy: nothing mounted at ${config} comes from a generated ConfigMap`);
}

/** The stack the manifests describe, beside `created`: what the operator makes with kubectl apart from them (the kiln-auth Secret). */
export function kubernetesPlan(dir = DEPLOY, created: readonly KubeObject[] = []): StackPlan {
  const read = readKustomization(dir);
  const { kustomization } = read;
  const objects = [...read.objects, ...created];
  const kiln: KilnProcess[] = [];
  let proxy: StackPlan["proxy"] | undefined;
  let nats: string[] = [];
  for (const w of workloads(objects)) {
    const pod = w.spec!.template!;
    const container = pod.spec.containers[0]!;
    const env = environment(objects, container);
    if (container.image === "kiln") {
      const script = scriptOf(container.command ?? [], `${w.kind} ${w.metadata.name}`);
      const port = servesPort(script) ? Number(env.KILN_PORT ?? 7070) : undefined;
      kiln.push({ name: w.metadata.name, script, env, replicas: w.spec!.replicas ?? 1, addresses: port === undefined ? [] : addressesOf(objects, w, port), port });
    } else if (container.image.startsWith("caddy:")) {
      proxy = { caddyfile: caddyfileOf(kustomization, pod, container, dir), env, addresses: addressesOf(objects, w, Number(env.KILN_PROXY_PORT ?? 8080)) };
    } else if (container.image.startsWith("nats:")) {
      nats = addressesOf(objects, w, 4222);
    }
  }
  if (!proxy) throw new Error("kubernetes: no proxy Deployment (image caddy:*)");
  // Without depends_on, the servers start first and the executors, which need them, last.
  kiln.sort((a, b) => Number(a.port === undefined) - Number(b.port === undefined));
  return { kiln, proxy, nats };
}
