// Edit in place on the deal and person pages (conveyor/web/views/inplace.py).
//
// A field shows as text with an "Edit" link. Clicking it opens the field's small form in place;
// saving posts the form with fetch and swaps in the server's rendering of the field: its new
// text, or the form again with the error on the field. After a deal field is saved the deal's
// new version goes into every form of the page, so the next move or win is not refused as stale.
// Without JavaScript (or if anything here fails) the link leads to a plain edit page and the
// form posts as usual.
(() => {
  "use strict";

  const FIRST_INPUT = "input:not([type=hidden]), select, textarea";

  const partsOf = (box) => ({
    value: box.querySelector(".inplace-value"),
    link: box.querySelector("[data-inplace-edit]"),
    form: box.querySelector("[data-inplace-form]"),
  });

  const setEditing = (box, editing) => {
    const { value, link, form } = partsOf(box);
    if (!value || !link || !form) {
      return;
    }
    value.hidden = editing;
    link.hidden = editing;
    form.hidden = !editing;
    box.classList.toggle("editing", editing);
    if (editing) {
      form.querySelector(FIRST_INPUT)?.focus();
    } else {
      link.focus();
    }
  };

  const close = (box) => {
    partsOf(box).form?.reset();
    for (const errors of box.querySelectorAll(".inplace-errors")) {
      errors.remove(); // the refusal closes with the form; reopened, it starts without it
    }
    setEditing(box, false);
  };

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const control = target?.closest("[data-inplace-edit], [data-inplace-cancel]");
    const box = control?.closest("[data-inplace]");
    if (!control || !box || box.closest(".edit-field")) {
      return; // the plain edit page keeps its ordinary links
    }
    event.preventDefault();
    if (control.hasAttribute("data-inplace-edit")) {
      setEditing(box, true);
    } else {
      close(box);
    }
  });

  document.addEventListener("keydown", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const box = target?.closest("[data-inplace].editing");
    if (event.key === "Escape" && box && !box.closest(".edit-field")) {
      close(box);
    }
  });

  const elementFrom = (html) => {
    const holder = document.createElement("template");
    holder.innerHTML = html.trim(); // rendered and escaped by the server
    return holder.content.firstElementChild;
  };

  const afterSave = (fresh) => {
    const version = fresh.dataset.version;
    if (version) {
      for (const input of document.querySelectorAll('input[name="version"]')) {
        input.value = version;
      }
    }
    const text = fresh.querySelector(".inplace-value")?.textContent ?? "";
    const empty = text === "—";
    for (const mirror of document.querySelectorAll(`[data-inplace-mirror="${fresh.dataset.inplace}"]`)) {
      mirror.textContent = empty ? "" : (mirror.dataset.mirrorPrefix ?? "") + text;
    }
    fresh.querySelector("[data-inplace-edit]")?.focus();
  };

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-inplace-form")) {
      return;
    }
    const box = form.closest("[data-inplace]");
    if (!box || box.closest(".edit-field") || !window.fetch) {
      return;
    }
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
    }
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-Requested-With": "XMLHttpRequest" },
        credentials: "same-origin",
      });
    } catch {
      form.submit(); // no answer: an ordinary post shows what happened
      return;
    }
    const fresh = response.headers.get("X-Inplace") === "1" ? elementFrom(await response.text()) : null;
    if (!fresh) {
      form.submit(); // not the field (logged out, no longer visible): the plain page says why
      return;
    }
    box.replaceWith(fresh);
    if (response.ok) {
      afterSave(fresh);
    } else {
      fresh.querySelector(`[data-inplace-form] ${FIRST_INPUT}`)?.focus();
    }
  });
})();
