export { startNodeService, type ServiceProcess } from "./node-service.js";
export { startTestIdentityProvider, type TestIdentityProvider } from "./identity-provider.js";
export { startHttpReceiver, type HttpReceiver, type ReceivedRequest } from "./http-receiver.js";
