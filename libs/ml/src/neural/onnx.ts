import { attr, type OnnxGraphBuilder } from "@kiln/onnx";
import type { Activation, OutputActivation } from "./activations.js";
import type { Network } from "./network.js";

const OPS: Record<Activation | OutputActivation, string | null> = { identity: null, relu: "Relu", tanh: "Tanh", logistic: "Sigmoid", softmax: "Softmax" };

/** Gemm per layer (float32 weights), then each activation as its core op; returns the output's name ([N, last layer size]). */
export function exportNetwork(graph: OnnxGraphBuilder, input: string, prefix: string, net: Network, hidden: Activation, output: OutputActivation): string {
  let current = input;
  const L = net.weights.length;
  for (let l = 0; l < L; l++) {
    const [n, m] = [net.sizes[l], net.sizes[l + 1]];
    graph.initializer(`${prefix}_w${l}`, Float32Array.from(net.weights[l]), [n, m]);
    graph.initializer(`${prefix}_b${l}`, Float32Array.from(net.biases[l]), [m]);
    const z = `${prefix}_z${l}`;
    graph.node("Gemm", [current, `${prefix}_w${l}`, `${prefix}_b${l}`], [z]);
    const op = OPS[l === L - 1 ? output : hidden];
    current = z;
    if (op) {
      current = `${prefix}_a${l}`;
      graph.node(op, [z], [current], op === "Softmax" ? { axis: attr.int(1) } : {});
    }
  }
  return current;
}
