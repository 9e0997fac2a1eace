export { consoleRoute } from "./route.js";
