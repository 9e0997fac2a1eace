export * from "./token.js";
export { Authorizer, type Need } from "./authorizer.js";
export { authInterceptor } from "./auth-interceptor.js";
export { methodAccess, type MethodAccess } from "./method-access.js";
export { projectsNamed } from "./projects-named.js";
export { defaultHttpAccess, httpDenial, type HttpAccess } from "./http-access.js";
export { sendToken } from "./send-token.js";
export { serviceToken } from "./service-token.js";
export { CALLER, callerOf } from "./caller.js";
