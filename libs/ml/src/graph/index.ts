export { Graph } from "./graph.js";
export { Sym, concat, input, type Constant } from "./symbol.js";
export { drawModel } from "./drawing.js";
