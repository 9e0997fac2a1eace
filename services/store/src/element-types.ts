import { ElementType } from "@kiln/proto/kiln/common/v1/tensor_pb";

/** Bytes per element; bool is one byte per element, as NumPy stores it. */
export function elementSize(t: ElementType): number {
  switch (t) {
    case ElementType.FLOAT32:
    case ElementType.INT32:
      return 4;
    case ElementType.FLOAT64:
    case ElementType.INT64:
      return 8;
    case ElementType.UINT8:
    case ElementType.BOOL:
      return 1;
    default:
      return 0;
  }
}
