// The console's behaviour: forms that write through the JSON API (with the session's CSRF
// token, refusals shown on the field they name), times in the reader's zone and language,
// the trend chart, option lists, and the live parts of pages. No inline script, no eval.
"use strict";

(function () {
  const lang = document.querySelector('meta[name="lang"]')?.content || "en";
  const locale = lang === "zh" ? "zh-CN" : undefined;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const messages = () => document.getElementById("messages")?.dataset || {};
  const SEVERITY_COLOURS = {
    critical: "#b3261e", high: "#d9480f", major: "#d9480f", error: "#c2410c",
    warning: "#b7791f", minor: "#8d6e00", info: "#1d5fa8", none: "#6b7280",
  };

  // -- times ---------------------------------------------------------------------------------
  const stamp = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium" });
  function formatTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (!Number.isNaN(when.getTime())) {
        el.textContent = stamp.format(when);
        el.title = `${el.getAttribute("datetime")} (${zone})`;
      }
    });
    // A zoned value coming back in a datetime-local field is shown in the reader's zone.
    root.querySelectorAll("input[type=datetime-local][data-zoned]").forEach((el) => {
      if (el.value && /[Z+-]\d{0,2}:?\d{0,2}$/.test(el.value) && el.value.length > 16) {
        el.value = localValue(new Date(el.value));
      }
    });
    root.querySelectorAll("input[type=hidden][data-zoned-copy]").forEach((el) => el.remove());
  }
  function localValue(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }
  function zoned(value) {
    return value ? new Date(value).toISOString() : null;
  }

  // -- forms through the API -----------------------------------------------------------------
  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach((el) => (el.textContent = ""));
    form.querySelectorAll(".form-error").forEach((el) => (el.textContent = ""));
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }
  function showError(form, path, reason) {
    const name = String(path || "").split(".").filter((p) => !["values", "body", "(body)"].includes(p)).pop();
    const slot = name && form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    const field = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (field) field.setAttribute("aria-invalid", "true");
    if (slot) {
      slot.textContent = reason;
      return true;
    }
    const general = form.querySelector(".form-error");
    if (general) general.textContent = path ? `${path}: ${reason}` : reason;
    return false;
  }
  function readValue(el) {
    const type = el.dataset.type;
    if (type === "boolean" || el.type === "checkbox") return el.checked;
    if (el.value === "") return undefined;
    if (type === "integer" || type === "number") return Number(el.value);
    if (type === "json") return JSON.parse(el.value);
    if (el.hasAttribute("data-zoned")) return zoned(el.value);
    return el.value;
  }
  function body(form, submitter) {
    const out = {};
    const nested = form.dataset.nest;
    const arrays = (form.dataset.array || "").split(",").filter(Boolean);
    for (const name of arrays) out[name] = [];
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.hasAttribute("data-skip") || el.type === "submit") continue;
      if (arrays.includes(el.name)) {
        if (el.checked) out[el.name].push(Number(el.value));
        continue;
      }
      let value;
      try {
        value = readValue(el);
      } catch (problem) {
        throw { path: el.name, reason: problem.message };
      }
      if (value === undefined) continue;
      if (nested && !el.hasAttribute("data-top")) {
        out[nested] = out[nested] || {};
        out[nested][el.name] = value;
      } else {
        out[el.name] = value;
      }
    }
    if (submitter && submitter.name) out[submitter.name] = submitter.value;
    return out;
  }
  async function submit(form, submitter) {
    clearErrors(form);
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const url = submitter?.dataset.apiOverride || form.dataset.api;
    let payload;
    try {
      payload = body(form, submitter);
    } catch (problem) {
      showError(form, problem.path, problem.reason);
      return;
    }
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf(), Accept: "application/json" },
        body: JSON.stringify(payload),
      });
    } catch (offline) {
      buttons.forEach((b) => (b.disabled = false));
      showError(form, "", messages().offline || "offline");
      return;
    }
    buttons.forEach((b) => (b.disabled = false));
    if (response.status === 401) {
      window.location.href = `/console/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`;
      return;
    }
    let answer = {};
    try {
      answer = response.status === 204 ? {} : await response.json();
    } catch (notJson) {
      answer = {};
    }
    if (!response.ok) {
      const problems = answer.problems && answer.problems.length ? answer.problems : [answer];
      for (const p of problems) showError(form, p.path, p.reason || answer.error || response.statusText);
      form.dispatchEvent(new CustomEvent("nw:refused", { bubbles: true, detail: answer }));
      return;
    }
    const then = form.dataset.then || "reload";
    if (then === "reload") window.location.reload();
    else if (then === "stay") refreshLive(true);
    else window.location.href = then.replace("{id}", encodeURIComponent(answer[form.dataset.thenKey || "id"] || ""));
  }
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.matches("form[data-api]")) {
      event.preventDefault();
      submit(form, event.submitter);
    } else if (form.method === "get") {
      // A GET filter form: times typed in the reader's zone travel with their offset.
      form.querySelectorAll("input[type=datetime-local][data-zoned]").forEach((el) => {
        if (!el.value) return;
        const copy = document.createElement("input");
        copy.type = "hidden";
        copy.name = el.name;
        copy.value = zoned(el.value);
        copy.setAttribute("data-zoned-copy", "");
        el.disabled = true;
        form.appendChild(copy);
      });
      setTimeout(() => form.querySelectorAll("[disabled][data-zoned]").forEach((el) => (el.disabled = false)), 0);
    }
  });

  // -- option lists (instances that are Running, ...) ----------------------------------------
  async function loadOptions(root) {
    for (const select of root.querySelectorAll("select[data-options]")) {
      if (select.dataset.loaded) continue;
      select.dataset.loaded = "1";
      const known = JSON.parse(select.dataset.known || "{}");
      const form = select.form;
      const params = new URLSearchParams();
      for (const name of (select.dataset.depends || "").split(",").filter(Boolean)) {
        const field = form?.querySelector(`[name="${CSS.escape(name)}"]`);
        const value = field?.value || known[name];
        if (value) params.set(name, value);
      }
      try {
        const response = await fetch(`${select.dataset.options}?${params}`, { credentials: "same-origin" });
        if (!response.ok) throw new Error((await response.json()).reason || response.statusText);
        const found = await response.json();
        for (const option of found.options || []) {
          const el = document.createElement("option");
          el.value = option.value;
          el.textContent = option.label || option.value;
          select.appendChild(el);
        }
      } catch (problem) {
        const slot = form?.querySelector(`[data-error-for="${CSS.escape(select.name)}"]`);
        if (slot) slot.textContent = String(problem.message || problem);
      }
    }
  }

  // -- live parts ----------------------------------------------------------------------------
  function busy(region) {
    const active = document.activeElement;
    if (active && region.contains(active) && active.closest("form")) return true;
    for (const el of region.querySelectorAll("form input:not([type=hidden]):not([type=checkbox]), form textarea")) {
      if (el.value) return true;
    }
    return Boolean(region.querySelector("input[type=checkbox]:checked"));
  }
  let polling = false;
  function refreshLive(force) {
    const region = document.querySelector("[data-live]");
    if (!region || polling || !window.htmx || (!force && busy(region))) return;
    polling = true;
    const id = `#${region.id}`;
    window.htmx
      .ajax("GET", region.dataset.live, { target: id, select: id, swap: "outerHTML" })
      .finally(() => (polling = false));
  }
  function startLive() {
    const region = document.querySelector("[data-live]");
    if (region) setTimeout(() => { refreshLive(false); startLive(); }, Number(region.dataset.every || 1000));
  }
  function startRefresh() {
    const region = document.querySelector("[data-refresh]");
    if (!region) return;
    setInterval(() => {
      const current = document.querySelector("[data-refresh]");
      if (!current || busy(current) || !window.htmx) return;
      window.htmx.ajax("GET", location.pathname + location.search, { target: "#live-list", select: "#live-list", swap: "outerHTML" });
    }, Number(region.dataset.refresh) * 1000);
  }

  // -- the trend chart -----------------------------------------------------------------------
  let chart;
  async function drawTrend() {
    const canvas = document.getElementById("trend");
    if (!canvas || !window.Chart) return;
    const days = Number(document.getElementById("trend-range")?.value || 14);
    const to = new Date();
    const from = new Date(to.getTime() - (days - 1) * 86400000);
    const day = (d) => new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(d);
    const status = document.getElementById("trend-status");
    const url = `${canvas.dataset.api}?from=${day(from)}&to=${day(to)}&tz=${encodeURIComponent(zone)}`;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) {
      if (status) status.textContent = (await response.json()).reason || response.statusText;
      return;
    }
    const trend = await response.json();
    const labels = trend.days.map((d) => d.day);
    const names = JSON.parse(canvas.dataset.labels || "{}");
    const datasets = trend.severities.map((severity) => ({
      label: names[severity] || severity,
      data: trend.days.map((d) => d.by_severity[severity] || 0),
      backgroundColor: SEVERITY_COLOURS[severity] || "#6b7280",
      stack: "events",
    }));
    const total = trend.days.reduce((n, d) => n + Object.values(d.by_severity).reduce((a, b) => a + b, 0), 0);
    canvas.setAttribute("aria-label", `${total} · ${labels[0]} – ${labels[labels.length - 1]} (${zone})`);
    if (status) status.textContent = `${zone}`;
    if (chart) chart.destroy();
    chart = new window.Chart(canvas, {
      type: "bar",
      data: { labels, datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }

  function init(root) {
    formatTimes(root);
    loadOptions(root);
  }
  document.addEventListener("htmx:afterSettle", (event) => init(event.target));
  document.addEventListener("DOMContentLoaded", () => {
    init(document);
    startLive();
    startRefresh();
    drawTrend().catch((problem) => console.warn("trend", problem));
    document.getElementById("trend-range")?.addEventListener("change", () => drawTrend());
    document.body.dataset.ready = "1";
  });
})();
