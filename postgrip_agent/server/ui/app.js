// The PostGrip Agent web UI: one page, no framework, everything through the service's own API.
"use strict";

const STATES = ["running", "succeeded", "failed", "continued_as_new"];
let namespace = localStorage.getItem("postgrip.namespace") || "default";
let live = null;  // the current view's refresher: cancelled when the view changes

// ------------------------------------------------------------------ helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body, params) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, value);
  }
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: {"X-PostGrip-UI": "1", "Accept": "application/json", ...(body === undefined ? {} : {"Content-Type": "application/json"})},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) { showSignIn(); throw new ApiError(401, data.error || "sign in"); }
  if (!response.ok) throw new ApiError(response.status, data.error || `${response.status} ${response.statusText}`);
  return {data, next: response.headers.get("X-Next-Page-Token")};
}

function banner(message, kind) {
  const el = document.getElementById("banner");
  el.textContent = message || "";
  el.className = kind || "";
  el.hidden = !message;
}

function when(text) {
  if (!text) return "";
  const date = new Date(text);
  return isNaN(date) ? text : date.toLocaleString();
}

function json(value) { return JSON.stringify(value, null, 2); }

function statusOf(run) {
  if (run.state !== "failed") return {running: "RUNNING", succeeded: "COMPLETED", continued_as_new: "CONTINUED_AS_NEW"}[run.state] || String(run.state).toUpperCase();
  const failure = (run.result || {}).failure || {};
  if (failure.type === "TerminatedFailure" || (run.error || "").startsWith("terminated")) return "TERMINATED";
  const details = failure.details || [];
  if (failure.type === "TimeoutFailure" && !details.some(d => d && d.timeout_type)) return "TIMED_OUT";
  return failure.type === "CancelledFailure" ? "CANCELED" : "FAILED";
}

function status(run) { const s = statusOf(run); return h("span", {class: `status ${s}`, text: s}); }

function route() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  return {parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || "")};
}

function go(hash) { location.hash = hash; }

function confirmed(question) { return window.confirm(question); }

function parseArgs(text) {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const value = JSON.parse(trimmed);
  return Array.isArray(value) ? value : [value];
}

function render(...children) {
  const main = document.getElementById("main");
  main.replaceChildren(...children.flat(Infinity).filter(Boolean));
}

function repeat(task, ms) {
  let stopped = false;
  const loop = async () => { while (!stopped) { await new Promise(r => setTimeout(r, ms)); if (!stopped) await task().catch(() => {}); } };
  loop();
  return () => { stopped = true; };
}

// ------------------------------------------------------------------ sign-in

function showSignIn() {
  if (live) { live(); live = null; }
  const input = h("input", {type: "password", id: "token", name: "token", autocomplete: "current-password", required: true});
  render(h("h1", {text: "Sign in"}), h("form", {class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    const answer = await fetch("/ui/login", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-PostGrip-UI": "1"}, body: JSON.stringify({token: input.value})});
    if (!answer.ok) { banner((await answer.json().catch(() => ({}))).error || "sign-in failed"); return; }
    banner(""); document.getElementById("sign-out").hidden = false; show();
  }}, h("label", {for: "token", text: "This service's auth token"}), input, h("button", {type: "submit", text: "Sign in"}),
    h("p", {class: "muted", text: "Kept in an HttpOnly cookie for this site only."})));
  input.focus();
}

// ------------------------------------------------------------------ workflows

async function workflowsView(params) {
  const filters = {state: params.get("state") || "", type: params.get("type") || "", queue: params.get("queue") || "",
                   q: params.get("q") || "", search: params.get("search") || "", after: params.get("after") || "",
                   before: params.get("before") || ""};
  const instant = (local) => { const date = local ? new Date(local) : null; return date && !isNaN(date) ? date.toISOString() : ""; };
  const token = params.get("page_token") || "";
  const query = {namespace, state: filters.state, type: filters.type, queue: filters.queue, q: filters.q, limit: 50,
                 order_by: "-created_at", page_token: token, created_after: instant(filters.after),
                 created_before: instant(filters.before)};
  if (filters.search.includes("=")) {
    const [key, ...rest] = filters.search.split("=");
    query[`search.${key.trim()}`] = rest.join("=").trim();
  }
  const field = (name, label, input) => h("label", {for: `f-${name}`}, label, input);
  const text = (name, placeholder) => h("input", {id: `f-${name}`, name, value: filters[name], placeholder});
  const stateSelect = h("select", {id: "f-state", name: "state"}, h("option", {value: "", text: "any"}),
    STATES.map(s => h("option", {value: s, selected: s === filters.state, text: s})));
  const form = h("form", {class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const data = new URLSearchParams([...new FormData(form)].filter(([, v]) => v !== ""));
    go(`#/workflows?${data}`);
  }}, field("state", "State", stateSelect), field("type", "Type", text("type", "OrderWorkflow")),
    field("queue", "Task queue", text("queue", "default")), field("q", "Id contains", text("q", "order-")),
    field("search", "Search attribute", text("search", "customer=acme")),
    field("after", "Started after", h("input", {id: "f-after", name: "after", type: "datetime-local", value: filters.after})),
    field("before", "Started before", h("input", {id: "f-before", name: "before", type: "datetime-local", value: filters.before})),
    h("button", {type: "submit", text: "Filter"}));
  const counts = h("div", {class: "counts", "aria-label": "Runs by state"});
  const table = h("table", {"aria-label": "Workflow runs"});
  const pager = h("div", {class: "pager"});
  render(h("h1", {text: "Workflows"}), form, counts, table, pager);

  const refresh = async () => {
    const [{data: runs, next}, ...tallies] = await Promise.all([api("GET", "/api/v1/workflows", undefined, query),
      ...STATES.map(s => api("GET", "/api/v1/workflows/count", undefined, {namespace, state: s}))]);
    counts.replaceChildren(...STATES.map((s, i) => h("a", {href: `#/workflows?state=${s}`}, `${s} ${tallies[i].data.count}`)));
    table.replaceChildren(h("thead", {}, h("tr", {}, ["Workflow id", "Type", "Status", "Task queue", "Started", "Updated"].map(t => h("th", {scope: "col", text: t})))),
      h("tbody", {}, runs.length ? runs.map(run => h("tr", {},
        h("td", {class: "mono"}, h("a", {href: `#/workflow/${encodeURIComponent(run.id)}?run=${encodeURIComponent(run.run_id)}`, text: run.id})),
        h("td", {text: run.type}), h("td", {}, status(run)), h("td", {text: run.queue}), h("td", {text: when(run.created_at)}),
        h("td", {text: when(run.updated_at)}))) : h("tr", {}, h("td", {colspan: 6, class: "muted", text: "No runs match."}))));
    const here = new URLSearchParams(params);
    pager.replaceChildren(token ? h("a", {href: `#/workflows?${new URLSearchParams([...here].filter(([k]) => k !== "page_token"))}`, text: "Newest"}) : "",
      next ? h("a", {href: `#/workflows?${(here.set("page_token", next), here)}`, text: "Older runs →"}) : "");
  };
  await refresh();
  if (!token) live = repeat(refresh, 3000);
}

function failureBlock(failure, fallback) {
  const blocks = [];
  let current = failure, depth = 0;
  while (current && depth < 10) {
    blocks.push(h("pre", {class: "failure"}, `${current.type || "Failure"}: ${current.message || ""}` +
      (current.stack_trace ? `\n\n${current.stack_trace}` : "")));
    current = current.cause; depth += 1;
    if (current) blocks.push(h("p", {class: "muted", text: "caused by"}));
  }
  return blocks.length ? blocks : [h("pre", {class: "failure", text: fallback || "failed"})];
}

async function pendingActivities(events) {
  const done = new Set(events.filter(e => ["ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskCanceled"].includes(e.type)).map(e => e.task_id));
  const retries = {};
  for (const e of events) if (e.type === "ActivityTaskRetryScheduled") retries[e.task_id] = e.attributes || {};
  const pending = [];
  for (const e of events) {
    if (e.type !== "ActivityTaskScheduled" || !e.task_id || done.has(e.task_id)) continue;
    const {data: task} = await api("GET", `/api/v1/tasks/${encodeURIComponent(e.task_id)}`);
    if (["succeeded", "failed", "cancelled"].includes(task.state)) continue;
    const {data: taskEvents} = await api("GET", `/api/v1/tasks/${encodeURIComponent(e.task_id)}/events`);
    pending.push({event: e, task, taskEvents, retry: retries[e.task_id]});
  }
  return pending;
}

function progressOf(taskEvents) {
  const milestones = taskEvents.filter(e => e.kind === "milestone" && e.details);
  const last = milestones[milestones.length - 1];
  const lines = taskEvents.filter(e => e.kind === "stdout" || e.kind === "stderr");
  return [last && last.details.total ? h("p", {}, h("span", {class: "progress", role: "progressbar", "aria-valuemin": 0,
      "aria-valuemax": last.details.total, "aria-valuenow": last.details.index || 0}, (() => { const bar = h("span");
      bar.style.width = `${Math.round(100 * (last.details.index || 0) / last.details.total)}%`; return bar; })()),
    ` ${last.details.index}/${last.details.total} ${last.details.name || ""}`) : null,
    lines.length ? h("pre", {class: "mono", "aria-label": "Output"}, lines.map(e => `${e.kind}: ${e.data || e.message || ""}`).join("\n")) : null];
}

function actionForm(title, fields, label, submit, danger) {
  const form = h("form", {class: "action", "aria-label": title, onsubmit: async (event) => {
    event.preventDefault();
    try { await submit(new FormData(form)); } catch (err) { banner(err.message); }
  }}, h("strong", {text: title}), fields, h("button", {type: "submit", class: danger ? "danger" : "", text: label}));
  return form;
}

async function workflowView(id, params) {
  const target = params.get("run") || id;
  const [{data: run}, {data: events}] = await Promise.all([api("GET", `/api/v1/workflows/${encodeURIComponent(target)}`),
    api("GET", `/api/v1/workflows/${encodeURIComponent(target)}/history`)]);
  const started = events.find(e => e.type === "WorkflowExecutionStarted") || {attributes: {}};
  const attrs = started.attributes || {};
  const children = events.filter(e => e.type === "ChildWorkflowExecutionStarted");
  const grid = h("dl", {class: "grid"},
    h("dt", {text: "Status"}), h("dd", {}, status(run)), h("dt", {text: "Type"}), h("dd", {text: run.type}),
    h("dt", {text: "Run id"}), h("dd", {class: "mono", text: run.run_id}), h("dt", {text: "Task queue"}), h("dd", {text: run.queue}),
    h("dt", {text: "Started"}), h("dd", {text: when(run.created_at)}), h("dt", {text: "Updated"}), h("dd", {text: when(run.updated_at)}),
    attrs.parent_workflow_id ? [h("dt", {text: "Parent"}), h("dd", {}, h("a", {href: `#/workflow/${encodeURIComponent(attrs.parent_workflow_id)}`, text: attrs.parent_workflow_id}))] : null,
    run.state === "continued_as_new" ? [h("dt", {text: "Continued as"}), h("dd", {}, h("a", {href: `#/workflow/${encodeURIComponent(id)}`, text: "the latest run"}))] : null,
    attrs.continued_from_run_id ? [h("dt", {text: "Continued from"}), h("dd", {}, h("a", {href: `#/workflow/${encodeURIComponent(id)}?run=${encodeURIComponent(attrs.continued_from_run_id)}`, text: attrs.continued_from_run_id}))] : null,
    children.length ? [h("dt", {text: "Children"}), h("dd", {}, children.map(c => [h("a", {href: `#/workflow/${encodeURIComponent((c.attributes || {}).workflow_id || "")}`, text: (c.attributes || {}).workflow_id}), " "]))] : null);
  const outcome = run.state === "succeeded" || run.state === "continued_as_new"
    ? [h("h2", {text: "Result"}), h("pre", {class: "mono", "aria-label": "Result", text: json((run.result || {}).value)})]
    : run.state === "failed" ? [h("h2", {text: "Failure"}), failureBlock((run.result || {}).failure, run.error)] : [];
  const pendingBox = h("div", {"aria-label": "Pending activities"});
  const timeline = h("ol", {class: "timeline", "aria-label": "History"});
  const addEvents = (list) => timeline.append(...list.map(e => h("li", {}, h("details", {},
    h("summary", {}, h("span", {class: "seq", text: `#${e.id}`}), h("span", {class: "when", text: when(e.created_at)}), h("span", {text: e.type})),
    h("pre", {class: "mono", text: json(e.attributes || {})})))));
  addEvents(events);
  const actions = run.state !== "running" ? [] : [h("h2", {text: "Actions"}), h("div", {class: "actions"},
    actionForm("Signal", [h("label", {}, "Name", h("input", {name: "name", required: true})), h("label", {}, "Arguments (JSON)", h("textarea", {name: "args", rows: 2, placeholder: "[\"value\"]"}))],
      "Send signal", async (data) => {
        if (!confirmed(`Send signal ${data.get("name")} to ${id}?`)) return;
        await api("POST", `/api/v1/workflows/${encodeURIComponent(id)}/signal`, {name: data.get("name"), args: parseArgs(data.get("args") || "")});
        banner(`signal ${data.get("name")} sent`, "info");
      }),
    actionForm("Query", [h("label", {}, "Name", h("input", {name: "name", required: true})), h("label", {}, "Arguments (JSON)", h("textarea", {name: "args", rows: 2}))],
      "Ask", async (data) => {
        if (!confirmed(`Ask ${id} query ${data.get("name")}? An agent answers it from the run's state.`)) return;
        const {data: task} = await api("POST", "/api/v1/tasks", {type: `query:${run.type}`, namespace: run.namespace, queue: run.queue,
          payload: {workflowId: id, workflowType: run.type, queryName: data.get("name"), args: parseArgs(data.get("args") || "")}});
        const {data: done} = await api("GET", `/api/v1/tasks/${encodeURIComponent(task.id)}`, undefined, {wait_seconds: 10});
        banner(done.state === "succeeded" ? `answer: ${JSON.stringify((done.result || {}).value)}` : `query ${done.state}: ${done.error || ""}`, done.state === "succeeded" ? "info" : "");
      }),
    actionForm("Cancel", [h("label", {}, "Reason", h("input", {name: "reason"}))], "Cancel run", async (data) => {
      if (!confirmed(`Cancel ${id}? Its code is asked to stop.`)) return;
      await api("POST", `/api/v1/workflows/${encodeURIComponent(id)}/cancel`, {reason: data.get("reason") || undefined});
      banner("cancellation requested", "info");
    }, true),
    actionForm("Terminate", [h("label", {}, "Reason", h("input", {name: "reason"}))], "Terminate run", async (data) => {
      if (!confirmed(`Terminate ${id} now? Its code gets no chance to clean up.`)) return;
      await api("POST", `/api/v1/workflows/${encodeURIComponent(id)}/terminate`, {reason: data.get("reason") || undefined});
      banner("terminated", "info");
    }, true))];
  render(h("h1", {}, "Workflow ", h("span", {class: "mono", text: id})), grid, h("h2", {text: "Input"}),
    h("pre", {class: "mono", "aria-label": "Input", text: json(attrs.args || [])}), outcome,
    run.memo ? [h("h2", {text: "Memo"}), h("pre", {class: "mono", text: json(run.memo)})] : null,
    run.search_attributes ? [h("h2", {text: "Search attributes"}), h("pre", {class: "mono", text: json(run.search_attributes)})] : null,
    h("h2", {text: "Pending activities"}), pendingBox, actions, h("h2", {text: "History"}), timeline);

  const showPending = async (list) => {
    const pending = await pendingActivities(list);
    pendingBox.replaceChildren(pending.length ? h("table", {}, h("thead", {}, h("tr", {}, ["Activity", "Attempt", "State", "Last heartbeat", "Last failure"].map(t => h("th", {scope: "col", text: t})))),
      h("tbody", {}, pending.map(p => h("tr", {}, h("td", {}, (p.event.attributes || {}).activity_type || p.task.type, progressOf(p.taskEvents)),
        h("td", {text: p.task.attempt}), h("td", {text: p.task.state}),
        h("td", {}, (() => { const beats = p.taskEvents.filter(e => e.kind === "heartbeat" && e.stage !== "lease"); const last = beats[beats.length - 1];
          return last ? [when(last.created_at), last.details ? h("pre", {class: "mono", text: json(last.details)}) : null] : "—"; })()),
        h("td", {}, p.retry && p.retry.failure ? failureBlock(p.retry.failure) : "—")))))
      : h("p", {class: "muted", text: run.state === "running" ? "None right now." : "None: the run has ended."}));
  };
  await showPending(events);
  if (run.state !== "running" || params.get("run") && params.get("run") !== run.run_id) return;
  let last = events.length ? Number(events[events.length - 1].id) : 0;
  let stopped = false;
  const stopOutput = repeat(() => showPending(events), 2000);  // activity output and heartbeats stream in
  live = () => { stopped = true; stopOutput(); };
  while (!stopped) {  // long-poll the history: new events appear as they happen
    const {data: fresh} = await api("GET", `/api/v1/workflows/${encodeURIComponent(target)}/history`, undefined, {after: last, wait_seconds: 20}).catch(() => ({data: []}));
    if (stopped) return;
    if (fresh.length) {
      addEvents(fresh); last = Number(fresh[fresh.length - 1].id); events.push(...fresh);
      if (fresh.some(e => /^WorkflowExecution(Completed|Failed|Canceled|Terminated|TimedOut|ContinuedAsNew)$/.test(e.type))) { show(); return; }
      await showPending(events);
    }
  }
}

// ------------------------------------------------------------------ schedules, queues, namespaces

async function schedulesView() {
  const {data: schedules} = await api("GET", "/api/v1/schedules", undefined, {namespace});
  const act = (id, verb) => async () => {
    if (!confirmed(`${verb} schedule ${id}?`)) return;
    await api("POST", `/api/v1/schedules/${encodeURIComponent(id)}/${verb}`, {});
    banner(`schedule ${id}: ${verb} done`, "info"); show();
  };
  render(h("h1", {text: "Schedules"}), schedules.length ? h("table", {"aria-label": "Schedules"},
    h("thead", {}, h("tr", {}, ["Schedule id", "State", "Workflow", "Next fire", "Last run", "Recent runs", ""].map(t => h("th", {scope: "col", text: t})))),
    h("tbody", {}, schedules.map(s => h("tr", {}, h("td", {class: "mono", text: s.id}), h("td", {text: s.state}),
      h("td", {text: (s.action || {}).workflowType || (s.action || {}).workflow_type || ""}), h("td", {text: when(s.next_run_at)}),
      h("td", {}, s.last_run_id ? h("a", {href: `#/workflow/${encodeURIComponent(s.last_run_id)}`, text: s.last_run_id}) : "—"),
      h("td", {}, h("a", {href: `#/workflows?${new URLSearchParams({search: `schedule_id=${s.id}`})}`, text: "newest first"})),
      h("td", {}, s.state === "paused" ? h("button", {type: "button", class: "secondary", onclick: act(s.id, "unpause"), text: "Unpause"})
        : h("button", {type: "button", class: "secondary", onclick: act(s.id, "pause"), text: "Pause"}), " ",
        h("button", {type: "button", class: "secondary", onclick: act(s.id, "trigger"), text: "Trigger now"}))))))
    : h("p", {class: "muted", text: "No schedules."}));
}

async function queuesView(parts) {
  if (parts[1]) {
    const {data: queue} = await api("GET", `/api/v1/task-queues/${encodeURIComponent(parts[1])}`, undefined, {namespace});
    render(h("h1", {}, "Task queue ", h("span", {class: "mono", text: queue.queue})),
      queue.pollers.length ? h("table", {"aria-label": "Agents polling"}, h("thead", {}, h("tr", {}, ["Agent", "Task types", "Last seen"].map(t => h("th", {scope: "col", text: t})))),
        h("tbody", {}, queue.pollers.map(p => h("tr", {}, h("td", {class: "mono", text: p.agent_id}), h("td", {text: p.task_types.join(", ") || "(every type)"}), h("td", {text: when(p.last_seen)})))))
        : h("p", {class: "muted", text: "No agent has polled this queue."}),
      h("h2", {text: "Backlog"}), h("pre", {class: "mono", text: json(queue.backlog)}));
    return;
  }
  const {data: queues} = await api("GET", "/api/v1/task-queues", undefined, {namespace});
  render(h("h1", {text: "Task queues"}), queues.length ? h("table", {"aria-label": "Task queues"},
    h("thead", {}, h("tr", {}, ["Queue", "Agents", "Last seen"].map(t => h("th", {scope: "col", text: t})))),
    h("tbody", {}, queues.map(q => h("tr", {}, h("td", {}, h("a", {href: `#/queues/${encodeURIComponent(q.queue)}`, text: q.queue})),
      h("td", {text: q.pollers.length}), h("td", {text: when(q.pollers.map(p => p.last_seen).sort().pop())})))))
    : h("p", {class: "muted", text: "No agent has polled yet."}));
}

async function namespacesView() {
  const {data: namespaces} = await api("GET", "/api/v1/namespaces");
  render(h("h1", {text: "Namespaces"}), h("table", {"aria-label": "Namespaces"}, h("thead", {}, h("tr", {}, ["Name", "Created"].map(t => h("th", {scope: "col", text: t})))),
    h("tbody", {}, namespaces.map(n => h("tr", {}, h("td", {text: n.name}), h("td", {text: when(n.created_at)}))))));
}

// ------------------------------------------------------------------ routing

async function show() {
  if (live) { live(); live = null; }
  const {parts, params} = route();
  const section = {workflow: "workflows"}[parts[0]] || parts[0] || "workflows";
  document.querySelectorAll("nav a").forEach(a => a.classList.toggle("current", a.dataset.section === section));
  try {
    if (parts[0] === "workflow" && parts[1]) await workflowView(parts[1], params);
    else if (parts[0] === "schedules") await schedulesView();
    else if (parts[0] === "queues") await queuesView(parts);
    else if (parts[0] === "namespaces") await namespacesView();
    else await workflowsView(params);
  } catch (err) {
    if (err.status !== 401) render(h("h1", {text: "Something went wrong"}), h("p", {text: err.message}));
  }
}

async function start() {
  const {data: session} = await api("GET", "/ui/session").catch(() => ({data: {}}));
  const signOut = document.getElementById("sign-out");
  signOut.hidden = !session.auth_required;
  signOut.addEventListener("click", async () => { await fetch("/ui/logout", {method: "POST", credentials: "same-origin", headers: {"X-PostGrip-UI": "1"}}); showSignIn(); });
  const select = document.getElementById("namespace");
  select.addEventListener("change", () => { namespace = select.value; localStorage.setItem("postgrip.namespace", namespace); show(); });
  const fill = async () => {
    const {data: names} = await api("GET", "/api/v1/namespaces");
    select.replaceChildren(...names.map(n => h("option", {value: n.name, selected: n.name === namespace, text: n.name})));
  };
  window.addEventListener("hashchange", () => { banner(""); show(); });
  await fill().catch(() => {});
  await show();
}

start();
