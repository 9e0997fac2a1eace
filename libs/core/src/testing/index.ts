export { startNodeService, type ServiceProcess } from "./node-service.js";
