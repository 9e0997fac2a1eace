// `@kiln/sdk/ml`: the built-in estimators (Node), apart from the main entry so browser bundles stay free of onnxruntime.
export * from "@kiln/ml";
