// The page: GET /recommend?explain=true for the chosen user, POST /interactions for a click
// (with the answer's request_id: the click is attributed to it), GET /stats every 2 s for the
// live panel; the API key field's key goes with all but /stats.
// Plain DOM, no libraries; text only via textContent.
"use strict";

const $ = (selector) => document.querySelector(selector);
const SOURCE_ROWS = 20;
let currentUser = null;

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tableId, entries, columns, decorate) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren();
  entries.forEach((entry, index) => {
    const row = document.createElement("tr");
    if (entry.item_id !== undefined) row.dataset.itemId = entry.item_id;
    columns.forEach((column) => cell(row, column(entry, index), column.className));
    if (decorate) decorate(row, entry);
    body.appendChild(row);
  });
}

const named = (name, get) => Object.assign(get, { className: name });
const score = (value) => (value === null || value === undefined ? "–" : value.toFixed(4));
const attributes = [
  named("category", (e) => e.category),
  named("shop", (e) => e.shop),
  named("brand", (e) => e.brand),
];

function headers(json) {
  const result = json ? { "Content-Type": "application/json" } : {};
  const key = $("#api-key").value;
  if (key) result["X-API-Key"] = key;
  return result;
}

async function recommend(userId) {
  currentUser = userId;
  $("#message").textContent = `Asking for user ${userId}…`;
  const response = await fetch(`/recommend?user_id=${encodeURIComponent(userId)}&explain=true`,
    { headers: headers(false) });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("#answer").hidden = true;
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    $("#message").textContent = `${response.status}: ${detail}`;
    return;
  }
  show(body);
  $("#message").textContent = "";
}

function show(body) {
  const explain = body.explain;
  const source = new Map(explain.merged.map((m) => [m.item_id, m.source]));
  const byId = new Map(explain.final.map((item) => [item.item_id, item]));
  const version = body.model_version === undefined || body.model_version === null
    ? "" : `, model version ${body.model_version}`;
  $("#summary").textContent = `User ${body.user_id}: ${body.items.length} items` +
    (body.fallback ? " (fallback: unknown user, most clicked items)" : "") + version;
  $("#summary").className = body.fallback ? "fallback" : "";
  $("#answer").dataset.fallback = body.fallback;
  const items = body.items.map((item) => ({ ...(byId.get(item.item_id) || {}), ...item }));
  fill("items", items, [
    (e, i) => i + 1, named("item", (e) => e.item_id), ...attributes,
    named("score", (e) => score(e.score)),
    named("source", (e) => source.get(e.item_id) || (body.fallback ? "most clicked" : "")),
  ], (row, entry) => {
    const td = document.createElement("td");
    const button = document.createElement("button");
    button.className = "click-item";
    button.textContent = "clicked";
    button.title = "POST /interactions: record that this user clicked it";
    button.addEventListener("click", () => interact(body.user_id, entry.item_id, body.request_id));
    td.appendChild(button);
    row.appendChild(td);
  });
  fill("timings", explain.timings_ms, [(t) => t.stage, (t) => t.ms.toFixed(2)]);
  $("#explain-time").textContent = `explanation assembled in ${explain.explain_ms.toFixed(1)} ms`;
  const features = explain.user_features;
  $("#features").textContent = features.found
    ? Object.entries(features.values).map(([k, v]) => `${k}=${v}`).join(", ")
    : "not found: the user is unknown to the online store";
  $("#past-count").textContent = `(${explain.past_items.length})`;
  fill("past", explain.past_items, [named("item", (e) => e.item_id), ...attributes]);
  showSources(explain.sources);
  $("#removed-count").textContent = `(${explain.filter.removed.length})`;
  fill("removed", explain.filter.removed, [(e) => e.item_id, (e) => e.source, named("reason", (e) => e.reason)]);
  const cap = explain.category_cap;
  $("#cap").textContent = cap.max_per_category
    ? `(at most ${cap.max_per_category} per category; ${cap.skipped.length} passed over)` : "(none)";
  fill("capped", cap.skipped, [(e) => e.item_id, (e) => e.category, (e) => score(e.score)]);
  $("#ranking-count").textContent = explain.ranking.length;
  const weights = (explain.ordering && explain.ordering.weights) || { ranking: 1 };
  $("#ordering").textContent = Object.entries(weights).map(([k, v]) => `${k} ${v}`).join(", ");
  fill("ranking", explain.ranking, [
    (e) => e.item_id, ...attributes, named("score", (e) => score(e.score)),
    named("probability", (e) => score(e.click_probability)),
    named("parts", (e) => Object.entries(e.parts || {})
      .map(([k, p]) => `${k} ${p.share >= 0 ? "+" : ""}${p.share.toFixed(2)}`).join(" ")
      + (e.proxy ? ` (added online; build parts of ${e.proxy})` : "")),
  ]);
  $("#answer").hidden = false;
}

function showSources(sources) {
  const holder = $("#sources");
  holder.replaceChildren();
  sources.forEach((source) => {
    const section = document.createElement("section");
    const title = document.createElement("h3");
    title.textContent = `${source.name} (${source.candidates.length}; top ${SOURCE_ROWS})`;
    const table = document.createElement("table");
    table.id = `source-${source.name}`;
    table.innerHTML = "<thead><tr><th>item</th><th>score</th><th>origin</th></tr></thead><tbody></tbody>";
    section.append(title, table);
    holder.appendChild(section);
    fill(table.id, source.candidates.slice(0, SOURCE_ROWS),
      [(e) => e.item_id, (e) => score(e.score), (e) => e.origin || source.name]);
  });
}

async function interact(userId, itemId, requestId) {
  const response = await fetch("/interactions", {
    method: "POST", headers: headers(true),
    body: JSON.stringify({ user_id: userId, item_id: itemId, request_id: requestId }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("#message").textContent = `${response.status}: ${body.detail || "interaction not recorded"}`;
    return;
  }
  await recommend(userId);
  $("#message").textContent = `Recorded: user ${userId} clicked item ${itemId}; it has left the list.` +
    attributed(body.attribution);
}

function attributed(attribution) {
  if (!attribution) return "";
  if (attribution.status !== "attributed") return ` Click not attributed (${attribution.status}).`;
  return ` Attributed to arm ${attribution.arm}, version ${attribution.model_version}, ` +
    `position ${attribution.position + 1}.`;
}

async function suggestUsers() {
  const response = await fetch("/users/sample", { headers: headers(false) });
  if (!response.ok) return;  // 401 until the key is typed, when the gateway has one
  const users = await response.json();
  const list = $("#known-users");
  const links = $("#suggestions");
  list.replaceChildren();
  links.replaceChildren();
  users.forEach((user) => {
    const option = document.createElement("option");
    option.value = user;
    list.appendChild(option);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "known-user";
    button.textContent = user;
    button.addEventListener("click", () => { $("#user-id").value = user; recommend(user); });
    links.appendChild(button);
  });
}

async function refreshLive() {
  try {
    const response = await fetch("/stats");
    if (!response.ok) return;
    const stats = await response.json();
    const ms = (v) => (v === null ? "–" : `${v.toFixed(1)} ms`);
    $("#live-window").textContent = `${stats.route}, last ${Math.round(stats.window_s)} s`;
    $("#live-rps").textContent = stats.requests_per_s.toFixed(2);
    $("#live-p50").textContent = ms(stats.p50_ms);
    $("#live-p99").textContent = ms(stats.p99_ms);
    $("#live-errors").textContent = `${stats.errors} 5xx, ${stats.client_errors} 4xx`;
    const versions = Object.entries(stats.model_versions);
    $("#live-version").textContent = versions.length
      ? versions.map(([v, n]) => `${v} (${n})`).join(", ") : "–";
    showArms(stats.attribution);
  } catch (error) {
    $("#live-window").textContent = "gateway unreachable";
  }
}

// Per A/B arm and model version: CTR@k with its 95% Wilson interval (null: Redis did not answer).
function showArms(attribution) {
  if (!attribution) {
    $("#live-ab-unattributed").textContent = "counters unavailable";
    return;
  }
  const percent = (v) => (v === null ? "–" : `${(100 * v).toFixed(1)}%`);
  $("#live-ab-ctr").textContent = `CTR@${attribution.k}`;
  const unattributed = Object.values(attribution.unattributed_clicks).reduce((a, b) => a + b, 0);
  $("#live-ab-unattributed").textContent = String(unattributed);
  fill("live-ab", attribution.arms, [
    named("arm", (a) => a.arm), named("version", (a) => a.model_version),
    named("requests", (a) => a.requests), named("impressions", (a) => a.impressions),
    named("clicks", (a) => a.clicks), named("ctr", (a) => percent(a.ctr)),
    named("interval", (a) => (a.ctr === null ? "–" : `${percent(a.ctr_low)} – ${percent(a.ctr_high)}`)),
  ]);
}

$("#pick").addEventListener("submit", (event) => {
  event.preventDefault();
  recommend($("#user-id").value);
});
$("#api-key").addEventListener("change", suggestUsers);
suggestUsers();
refreshLive();
setInterval(refreshLive, 2000);
