export { StandardScaler, type StandardScalerParams } from "./standard-scaler.js";
export { MinMaxScaler, type MinMaxScalerParams } from "./min-max-scaler.js";
export { OneHotEncoder, type OneHotEncoderParams } from "./one-hot-encoder.js";
export { SimpleImputer, type SimpleImputerParams } from "./simple-imputer.js";
