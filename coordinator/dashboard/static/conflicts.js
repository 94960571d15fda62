"use strict";
/* Resolving a conflict: the chosen option's adjustment plus the note go to the existing
   resolution API (POST /api/v1/conflicts/{id}/resolve); the page then shows the outcome. */
(() => {
  const form = document.getElementById("resolve-form");
  if (!form) return;
  const result = document.getElementById("resolve-result");
  const button = document.getElementById("resolve-submit");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = form.querySelector('input[name="option"]:checked');
    const body = { ...(chosen ? JSON.parse(chosen.dataset.body) : {}), note: document.getElementById("resolve-note").value.trim() };
    button.disabled = true;
    result.hidden = false;
    result.className = "notice";
    result.textContent = "…";
    try {
      await TF.send("POST", `/api/v1/conflicts/${encodeURIComponent(form.dataset.conflict)}/resolve`, body);
      result.className = "notice ok";
      result.textContent = TF.w("conflict.done");
      window.location.reload();
    } catch (error) {
      result.className = "notice bad";
      result.textContent = error.message;
      button.disabled = false;
    }
  });
})();
