"use strict";
/* Member actions at the front desk: every form that changes a member asks first. The text
   comes from the form (data-confirm, in the page's language); cancelling sends nothing. */
(() => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
})();
