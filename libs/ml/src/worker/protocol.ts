import type { LabelInput } from "../labels.js";
import type { SerializedModel } from "../serialize.js";

export type TrainingRequest =
  | { id: number; op: "fit"; kind: string; params: Record<string, unknown>; X: MatrixMessage; y?: LabelInput }
  | { id: number; op: "refit"; model: SerializedModel; params: Record<string, unknown>; X: MatrixMessage; y?: LabelInput }
  | { id: number; op: "partialFit"; model: SerializedModel; X: MatrixMessage; y?: LabelInput; classes?: (number | string)[] };

export interface MatrixMessage {
  data: Float64Array;
  rows: number;
  cols: number;
  columns?: string[];
}

export type TrainingReply =
  | { id: number; type: "progress"; epoch: number; loss?: number; metrics?: Record<string, number> }
  | { id: number; type: "done"; model: SerializedModel }
  | { id: number; type: "error"; name: string; reason?: string; message: string };
