"use strict";
/* Publish a rule bundle or a coupon campaign (through the existing publish APIs) and watch,
   from the versions kiosks report in their heartbeats, which kiosks applied it. */
(() => {
  const { w, el, ago, send, getJson } = TF;
  const list = document.getElementById("rollouts");
  const live = document.getElementById("live");

  function chosenStores(prefix, form) {
    const own = form.dataset.ownStore;
    if (own) return [own];
    const scope = form.querySelector(`input[name="${prefix}-scope"]:checked`);
    if (!scope || scope.value === "all") return [];
    return [...form.querySelectorAll(`input[name="${prefix}-store"]:checked`)].map((box) => box.value);
  }

  function report(node, ok, text) {
    node.hidden = false;
    node.className = ok ? "notice ok" : "notice bad";
    node.textContent = text;
  }

  const rulesForm = document.getElementById("rules-form");
  if (rulesForm) {
    rulesForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = document.getElementById("rules-result");
      let content;
      try {
        content = JSON.parse(document.getElementById("rules-json").value);
      } catch (error) {
        report(out, false, `JSON: ${error.message}`);
        return;
      }
      try {
        const row = await send("POST", "/api/v1/fleet/rollouts/rules", {
          ...content, store_ids: chosenStores("rules", rulesForm), note: document.getElementById("rules-note").value,
        });
        report(out, true, `${w("rollouts.done")} v${row.version}`);
        refresh();
      } catch (error) {
        report(out, false, error.message);
      }
    });
  }

  const campaignForm = document.getElementById("campaign-form");
  if (campaignForm) {
    campaignForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = document.getElementById("campaign-result");
      try {
        const res = await send("POST", "/api/v1/fleet/rollouts/campaign", {
          title: document.getElementById("campaign-title").value,
          kind: document.getElementById("campaign-kind").value,
          value: Number(document.getElementById("campaign-value").value || 0),
          valid_days: Number(document.getElementById("campaign-days").value || 30),
          store_ids: chosenStores("campaign", campaignForm),
          audience: campaignForm.querySelector('input[name="campaign-audience"]:checked').value,
        });
        report(out, true, `${w("rollouts.done")} ${res.campaigns.map((c) => `${c.campaign_id} (${c.issued})`).join(", ")}`);
        refresh();
      } catch (error) {
        report(out, false, error.message);
      }
    });
  }

  function progress(item) {
    const total = item.applied.length + item.waiting.length;
    if (item.target === null) return el("span", { class: "pill warn", data: { progress: "pending" } }, w("rollouts.pending_push"));
    const done = item.waiting.length === 0;
    return el("span", {},
      el("span", { class: done ? "pill ok" : "pill warn", data: { progress: `${item.applied.length}/${total}` } },
        w("rollouts.applied", { n: item.applied.length, total })),
      item.waiting.length ? el("span", { class: "sub" }, w("rollouts.waiting") + item.waiting.join(", ")) : null);
  }

  function render(data, nowMs) {
    const items = [
      ...data.bundles.map((b) => el("li", { data: { bundle: String(b.version) } },
        el("strong", {}, w("rollouts.bundle", { version: b.version })), " · ",
        b.store_ids.length ? b.store_ids.join(", ") : w("rollouts.scope_all"),
        b.note ? ` · ${b.note}` : "", ` · ${b.published_by || ""} · ${ago(b.published_ms, nowMs)} `, progress(b))),
      ...data.campaigns.map((c) => el("li", { data: { campaign: c.campaign_id } },
        el("strong", {}, `${w("rollouts.campaign_row", { id: c.campaign_id })} · ${c.title}`), " · ",
        c.store_ids.length ? c.store_ids.join(", ") : w("rollouts.scope_all"),
        ` · ${w("rollouts.issued", { n: c.issued })} · ${ago(c.created_ms, nowMs)} `, progress(c))),
    ];
    list.replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, w("rollouts.none"))]));
  }

  async function refresh() {
    try {
      const data = await getJson("/api/v1/fleet/rollouts");
      live.dataset.state = "live";
      live.textContent = w("fleet.live");
      render(data, data.server_ms);
    } catch (_e) {
      live.dataset.state = "stale";
      live.textContent = w("fleet.stale");
    }
  }
  refresh();
  setInterval(refresh, 1500);
})();
