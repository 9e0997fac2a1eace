import { createConnectTransport } from "@connectrpc/connect-web";
import { Kiln } from "@kiln/sdk";
import { datasetsView, datasetView, modelsView, modelView } from "./data-views.js";
import { deploymentsView, inferenceGraphsView, jobsView, jobView, schedulesView, webhooksView } from "./run-views.js";
import { experimentsView, experimentView } from "./experiment-views.js";
import { h } from "./dom.js";

/** A page that shows jobs still to end (marked data-live) reads itself again this often, so states and progress move. */
const REFRESH_MS = 2000;

type View = (kiln: Kiln, query: URLSearchParams, ...path: string[]) => Promise<Node[]>;
type ListView = (kiln: Kiln, query: URLSearchParams) => Promise<Node[]>;

const ROUTES: Record<string, { list: ListView; one?: View }> = {
  datasets: { list: datasetsView, one: datasetView },
  models: { list: modelsView, one: modelView },
  jobs: { list: jobsView, one: jobView },
  deployments: { list: deploymentsView },
  "inference-graphs": { list: inferenceGraphsView },
  schedules: { list: schedulesView },
  webhooks: { list: webhooksView },
  experiments: { list: experimentsView, one: experimentView },
};

/** Project and token live in this tab's session storage: gone when the tab is. */
const session = {
  get project() {
    return sessionStorage.getItem("kiln.project") || "default";
  },
  get token() {
    return sessionStorage.getItem("kiln.token") || undefined;
  },
  set(project: string, token: string) {
    sessionStorage.setItem("kiln.project", project || "default");
    if (token) sessionStorage.setItem("kiln.token", token);
    else sessionStorage.removeItem("kiln.token");
  },
};

let kiln: Promise<Kiln> | undefined;
let timer: number | undefined;
let shown = 0;

function connect(): Promise<Kiln> {
  const baseUrl = location.origin;
  kiln ??= Kiln.connect({ transport: createConnectTransport({ baseUrl }), url: baseUrl, project: session.project, token: session.token });
  return kiln;
}

async function render(): Promise<void> {
  window.clearTimeout(timer);
  const view = document.getElementById("view")!;
  const [route = "", search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [section = "datasets", ...path] = route.split("/").filter(Boolean).map(decodeURIComponent);
  const pages = ROUTES[section] ?? ROUTES.datasets!;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === `#/${section}`);
  const turn = ++shown;
  try {
    const k = await connect();
    const query = new URLSearchParams(search);
    const nodes = path.length && pages.one ? await pages.one(k, query, ...path) : await pages.list(k, query);
    if (turn !== shown) return; // another page was asked for meanwhile
    view.replaceChildren(...nodes);
    if (view.querySelector("[data-live]")) timer = window.setTimeout(() => void render(), REFRESH_MS);
  } catch (e) {
    if (turn !== shown) return;
    const err = e as { name?: string; reason?: string; message?: string };
    const hint = err.name === "UnauthenticatedError" || err.name === "PermissionDeniedError" ? " Give a token above (kiln tokens:create, or kiln login)." : "";
    view.replaceChildren(h("p", { class: "error" }, `${err.message ?? String(e)}${hint}`));
  }
}

async function showWho(): Promise<void> {
  const who = document.getElementById("who")!;
  try {
    const me = await (await connect()).whoami();
    who.textContent = me.tokensChecked ? `${me.subject} (${me.role})` : "";
  } catch {
    who.textContent = "no valid token";
  }
}

function start(): void {
  const form = document.getElementById("session") as HTMLFormElement;
  const project = document.getElementById("project") as HTMLInputElement;
  project.value = session.project;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = document.getElementById("token") as HTMLInputElement;
    session.set(project.value.trim(), token.value.trim());
    token.value = "";
    void kiln?.then((k) => k.close());
    kiln = undefined;
    void showWho();
    void render();
  });
  window.addEventListener("hashchange", () => void render());
  void showWho();
  void render();
}

start();
