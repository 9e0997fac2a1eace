/**
 * The services' event streams: each service publishes `kiln.<service>.v1.<resource>.<event>`
 * to its own, and readers of several (the webhooks) ensure them as their owners do.
 */
export const STORE_STREAM = { name: "KILN_STORE", subjects: ["kiln.store.>"] };
export const REGISTRY_STREAM = { name: "KILN_REGISTRY", subjects: ["kiln.registry.>"] };
export const RUNTIME_EVENT_STREAM = { name: "KILN_RUNTIME", subjects: ["kiln.runtime.v1.job.>", "kiln.runtime.v1.deployment.>", "kiln.runtime.v1.inference_graph.>"] };
