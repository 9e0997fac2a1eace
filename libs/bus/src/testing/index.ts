export { startNatsServer, type NatsServer, type NatsServerOptions } from "./nats-server.js";
export { freePort } from "./free-port.js";
