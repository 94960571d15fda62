"use strict";
/* The timetable page: add or remove a weekly class, cancel one dated session. Every change
   replaces the store's whole timetable through the API (which rolls it out), then reloads. */
(() => {
  const { w, send } = TF;
  const dataNode = document.getElementById("timetable-data");
  const form = document.getElementById("tt-add");
  const out = document.getElementById("tt-result");
  const picker = document.getElementById("tt-store");
  if (picker) picker.addEventListener("change", () => picker.form.submit());
  if (!dataNode || !document.getElementById("tt-grid")) return;
  const table = JSON.parse(dataNode.textContent);
  const store = (document.getElementById("tt-store") || {}).value;

  function report(ok, text) {
    out.hidden = false;
    out.className = ok ? "notice ok" : "notice bad";
    out.textContent = text;
  }

  async function save(slots, exceptions) {
    try {
      const saved = await send("PUT", `/api/v1/stores/${encodeURIComponent(store)}/timetable`, {
        slots, exceptions, note: "dashboard",
      });
      report(true, w("timetable.saved", { version: saved.rules_version }));
      setTimeout(() => window.location.reload(), 600);
    } catch (error) {
      report(false, error.message);
    }
  }

  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = (id) => document.getElementById(`tt-${id}`).value.trim();
      const slot = {
        slot_id: value("slot_id"),
        weekday: Number(value("weekday")),
        start: value("start").slice(0, 5),
        length_min: Number(value("length_min")),
        room: value("room"),
        class_type: value("class_type"),
        title_zh: value("title_zh"),
        title_en: value("title_en"),
        coach: value("coach"),
        capacity: Number(value("capacity")),
        drop_in_price_fen: Math.round(Number(value("price") || 0) * 100),
      };
      save([...table.slots, slot], table.exceptions);
    });
  }

  document.querySelectorAll("#tt-slots .remove-slot").forEach((button) => {
    button.addEventListener("click", () => {
      const id = button.closest("tr").dataset.slot;
      save(
        table.slots.filter((s) => s.slot_id !== id),
        table.exceptions.filter((e) => !e.slot_id || e.slot_id !== id),
      );
    });
  });

  document.querySelectorAll("#tt-grid .cancel-session").forEach((button) => {
    button.addEventListener("click", () => {
      const card = button.closest(".session");
      save(table.slots, [...table.exceptions, { kind: "cancelled", slot_id: card.dataset.slot, day: card.dataset.day }]);
    });
  });
})();
