// The box's page: the setup portal on its hotspot, or its local status
// page. State comes from /api/state; every text from the server's
// dictionary in the page's language, filled in as text (never HTML).
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("dict").textContent);
  const portal = document.body.dataset.portal === "true";
  const $ = (id) => document.getElementById(id);
  const t = (key, ...args) => {
    let s = D[key] || key;
    for (const a of args) s = s.replace("%s", a);
    return s;
  };
  const show = (el, on) => { if (el) el.hidden = !on; };

  let state = null;
  let selected = null;   // the network picked in the list
  let submitted = null;  // SSID of the join sent from this page
  let lost = false;      // the box stopped answering after a join
  let epoch = 0;         // bumped by a join or a scan: older polls' answers are stale

  async function api(method, path, body) {
    const opts = { method, headers: { "Accept": "application/json" }, cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.message || r.statusText), { data });
    return data;
  }

  function bars(signal) {
    return signal >= 75 ? "▂▄▆█" : signal >= 50 ? "▂▄▆" : signal >= 25 ? "▂▄" : "▂";
  }

  function joinable(sec) { return sec === "open" || sec === "wpa" || sec === "wpa3"; }

  function validPassword(sec, pw) {
    if (sec === "open") return true;
    if (sec === "wpa3") return pw.length >= 1 && pw.length <= 128;
    const bytes = new TextEncoder().encode(pw).length;
    return /^[0-9a-fA-F]{64}$/.test(pw) || (bytes >= 8 && bytes <= 63);
  }

  function renderNetworks() {
    const ul = $("networks");
    ul.textContent = "";
    if (!state.networks.length && !state.busy) {
      const li = document.createElement("li");
      li.className = "note";
      li.textContent = t("none");
      ul.appendChild(li);
    }
    for (const ap of state.networks) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "network";
      b.dataset.ssid = ap.ssid;
      const name = document.createElement("span");
      name.textContent = ap.ssid;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = (ap.security === "open" ? t("open") + " " : joinable(ap.security) ? "🔒 " : t("unsupported") + " ") + bars(ap.signal);
      b.append(name, meta);
      b.disabled = !joinable(ap.security) || !!state.busy;
      b.addEventListener("click", () => pick(ap));
      li.appendChild(b);
      ul.appendChild(li);
    }
  }

  function pick(ap) {
    selected = ap;
    $("join-ssid").textContent = ap.ssid;
    show($("pw-box"), ap.security !== "open");
    show($("join-error"), false);
    $("password").value = "";
    show($("join"), true);
    if (ap.security !== "open") $("password").focus();
  }

  function render() {
    if (!state) return;
    const last = state.last;
    const failed = last && !last.ok && !state.joining && state.busy !== "join";
    if (failed && submitted === last.ssid) submitted = null; // back from a failed join
    // Status line.
    let status = "";
    if (state.mode === "starting") status = t("starting");
    else if (state.mode === "online") status = last && last.ok ? t("joined", last.ssid) : t("online");
    else status = t("offline", state.hotspot);
    $("status").textContent = status;
    // Claim: on the local page while unclaimed; on the portal once a join was sent.
    const claimed = state.claim.claimed;
    show($("claimed"), claimed);
    show($("claim"), !claimed && (!portal || submitted !== null || (last && last.ok)));
    if (!portal) return;

    const err = $("error");
    if (failed) {
      err.textContent = t("reason." + last.reason, last.ssid);
      show(err, true);
    } else if (!lost) {
      show(err, false);
    }
    const joining = submitted !== null || state.busy === "join" || (last && last.ok);
    show($("setup"), !joining);
    show($("joining"), joining);
    if (joining) {
      const ssid = submitted || state.joining || (last && last.ssid) || "";
      $("joining-title").textContent = last && last.ok ? t("joined", ssid) : t("joining", ssid);
      $("joining-now").textContent = t("joining.now", state.hotspot, ssid);
      $("next-ok").textContent = t("next.ok", ssid);
      $("next-fail").textContent = t("next.fail", state.hotspot);
      const lostEl = $("lost");
      lostEl.textContent = t("lost");
      show(lostEl, lost);
    } else {
      show($("join"), selected !== null);
    }
    const scanning = state.busy === "scan";
    $("rescan").disabled = !!state.busy;
    show($("scan-note"), scanning);
    if (scanning) $("scan-note").textContent = t("scanning") + " " + t("rescan.note", state.hotspot, state.hotspot);
    renderNetworks();
  }

  async function poll() {
    const e0 = epoch;
    try {
      const s = await api("GET", "/api/state");
      if (e0 !== epoch) return;
      state = s;
      lost = false;
    } catch (e) {
      if (e0 !== epoch) return;
      if (submitted !== null) {
        lost = true;
      } else if (state) {
        $("error").textContent = t("err.network", state.hotspot);
        show($("error"), true);
      }
    }
    render();
  }

  if (portal) {
    $("show").addEventListener("change", (e) => { $("password").type = e.target.checked ? "text" : "password"; });
    $("cancel").addEventListener("click", () => { selected = null; show($("join"), false); });
    $("rescan").addEventListener("click", async () => {
      epoch++;
      try { state = await api("POST", "/api/scan", {}); } catch (e) { $("error").textContent = e.message; show($("error"), true); }
      render();
    });
    $("join").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!selected) return;
      const pw = selected.security === "open" ? "" : $("password").value;
      const je = $("join-error");
      if (!validPassword(selected.security, pw)) {
        je.textContent = t("err.password");
        show(je, true);
        return;
      }
      show(je, false);
      epoch++;
      try {
        state = await api("POST", "/api/join", { ssid: selected.ssid, password: pw });
        submitted = selected.ssid;
        selected = null;
        show($("join"), false);
      } catch (e) {
        je.textContent = e.message;
        show(je, true);
      }
      render();
    });
  }
  poll();
  setInterval(poll, 1500);
})();
