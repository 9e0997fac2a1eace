/** Signing in at an identity provider from Node (`kiln login`): `@kiln/sdk/login`. */
export { deviceLogin, type DeviceLoginOptions } from "./device-login.js";
export { credentialsPath, readCredentials, removeCredentials, storedLoginToken, writeCredentials, type StoredCredentials } from "./stored-login.js";
