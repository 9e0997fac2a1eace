export { PCA, type PCAParams } from "./pca.js";
