// The pipeline board: drag a card to another stage, or onto Won or Lost (or, from the keyboard,
// press the card's "Move" and pick where it goes: the same steps follow). The server decides:
// each drop posts the deal page's own action with the version the card was rendered with, and
// the answer (the moved card and its columns' new count and sum) is swapped in by htmx. A
// refusal — someone else changed the deal meanwhile, a confirmation missing, a playbook item
// not ticked — puts the card back where it was and says why on the card.
(() => {
  "use strict";

  function initBoard(board) {
    const csrf = board.dataset.csrf;
    const query = board.dataset.query;
    const outcomes = document.querySelector("[data-outcomes]");
    const status = document.querySelector(".board-status");

    function actionUrl(pk, action) {
      // The template renders the URL for deal 0 and "move"; put in the real ones.
      const url = board.dataset.actionUrl.replace(/\/0\/move\/$/, `/${pk}/${action}/`);
      return query ? `${url}?${query}` : url;
    }

    function columnOf(list) {
      return list.closest(".column");
    }

    function textOf(html) {
      return new DOMParser().parseFromString(html, "text/html").body.textContent.trim();
    }

    function say(message) {
      if (status) status.textContent = message;
    }

    // A card moved from the keyboard keeps the focus on its "Move" (where it landed, or back
    // where it was); one that left the board hands it to the card that followed it. Later, not
    // now: while a dialog is open the page behind it takes no focus, and closing it gives the
    // focus back to what had it before.
    function refocus(card, fallback) {
      if (!card.keyboardMove) return;
      card.keyboardMove = false;
      window.setTimeout(() => {
        const here = document.getElementById(card.id);
        const link = here?.querySelector("[data-move]") || fallback?.querySelector?.("[data-move]");
        link?.focus();
      }, 0);
    }

    function clearCardError(card) {
      card.classList.remove("conflict", "refused");
      card.querySelector(".card-error")?.remove();
    }

    function showCardError(card, message, conflict) {
      clearCardError(card);
      card.classList.add(conflict ? "conflict" : "refused");
      const box = document.createElement("p");
      box.className = "card-error";
      box.setAttribute("role", "alert");
      box.textContent = message;
      if (conflict) {
        const reload = document.createElement("a");
        reload.href = window.location.href;
        reload.textContent = board.dataset.msgReload;
        box.append(" ", reload);
      }
      card.prepend(box);
      say(message);
    }

    function putBack(card) {
      const home = card.boardHome;
      if (!home) return;
      const next = home.next && home.next.parentNode === home.list ? home.next : null;
      home.list.insertBefore(card, next || home.list.querySelector(":scope > .more, :scope > .empty"));
    }

    // POST the action; "done" when the server took it (and its answer is swapped in),
    // "invalid" when a dialog should stay open to fix the input, "failed" otherwise (the card
    // is back in place with the reason on it).
    async function send(card, action, data, dialog) {
      data.set("version", card.dataset.version);
      card.classList.add("saving");
      let response;
      let body;
      try {
        response = await fetch(actionUrl(card.dataset.deal, action), {
          method: "POST",
          body: data,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrf, "HX-Request": "true" },
        });
        body = await response.text();
      } catch {
        card.classList.remove("saving");
        putBack(card);
        showCardError(card, board.dataset.msgNetwork, false);
        refocus(card, null);
        return "failed";
      }
      card.classList.remove("saving");
      if (response.ok) {
        clearCardError(card);
        const after = card.boardHome?.next;
        window.htmx.swap(card, body, { swapStyle: "outerHTML" });
        refocus(card, after);
        return "done";
      }
      const message = textOf(body) || response.statusText;
      if (dialog && response.status === 400) {
        const error = dialog.querySelector("[data-slot=error]");
        error.textContent = message;
        error.hidden = false;
        return "invalid";
      }
      putBack(card);
      showCardError(card, message, response.status === 409);
      refocus(card, null);
      return "failed";
    }

    // Open `dialog` for the dropped card; its form posts `action`. Closing it any other way
    // than by a successful post puts the card back.
    function ask(dialog, card, action, prepare) {
      const form = dialog.querySelector("form");
      form.reset();
      const error = dialog.querySelector("[data-slot=error]");
      error.hidden = true;
      error.textContent = "";
      prepare(dialog);
      let settled = false;
      form.onsubmit = async (event) => {
        event.preventDefault();
        const submit = form.querySelector("[type=submit]");
        submit.disabled = true;
        const result = await send(card, action, new FormData(form), dialog);
        submit.disabled = false;
        if (result !== "invalid") {
          settled = true;
          dialog.close();
        }
      };
      dialog.querySelector("[data-cancel]").onclick = () => dialog.close();
      dialog.onclose = () => {
        if (!settled) {
          settled = true;
          putBack(card);
          refocus(card, null);
        }
      };
      dialog.showModal();
    }

    function fill(dialog, slot, text) {
      const element = dialog.querySelector(`[data-slot=${slot}]`);
      if (element) element.textContent = text;
    }

    function cardName(card) {
      return card.querySelector("strong")?.textContent.trim() || "";
    }

    // A drop (SortableJS's event, or the same three fields from "Move"): `item` the card,
    // `from` the list it left, `to` the list it is in now.
    function dropped(event) {
      const card = event.item;
      const from = columnOf(event.from);
      if (event.to === event.from || !from) return;
      clearCardError(card);
      const outcome = event.to.dataset.outcome;
      if (outcome === "lose") {
        ask(document.getElementById("board-lose"), card, "lose", (dialog) => {
          fill(dialog, "name", cardName(card));
          // Reasons limited to some stages are offered only at those stages.
          for (const option of dialog.querySelectorAll("option[data-stages]")) {
            const stages = option.dataset.stages;
            const fits = !stages || stages.split(",").includes(card.dataset.stage);
            option.hidden = !fits;
            option.disabled = !fits;
          }
        });
        return;
      }
      if (outcome === "win") {
        ask(document.getElementById("board-win"), card, "win", (dialog) => {
          fill(dialog, "name", cardName(card));
          dialog.querySelector("[name=amount]").value = card.dataset.amount;
        });
        return;
      }
      const to = columnOf(event.to);
      if (!to) return;
      const forward = Number(to.dataset.position) > Number(from.dataset.position);
      if (forward && from.dataset.criterion) {
        // The stage is left by the client's action: the user says it happened, as on the
        // deal page.
        ask(document.getElementById("board-move"), card, "move", (dialog) => {
          fill(dialog, "criterion", from.dataset.criterion);
          fill(dialog, "stage", to.dataset.name);
          const stage = document.createElement("input");
          stage.type = "hidden";
          stage.name = "stage";
          stage.value = to.dataset.stage;
          dialog.querySelector("form [name=stage]")?.remove();
          dialog.querySelector("form").append(stage);
        });
        return;
      }
      const data = new FormData();
      data.set("stage", to.dataset.stage);
      send(card, "move", data, null);
    }

    const common = {
      group: "deals",
      sort: false,
      draggable: ".deal-card",
      // The quick-touch form and "Move" inside a card stay usable: pressing there starts no drag.
      filter: ".quick-touch, .card-move, .card-error",
      preventOnFilter: false,
      // Mouse and touch events rather than the browser's drag and drop: the same on every
      // browser, and a click that ends a drag does not follow the card's link.
      forceFallback: true,
      fallbackTolerance: 5,
      delay: 150,
      delayOnTouchOnly: true,
      animation: 120,
      ghostClass: "drag-ghost",
      chosenClass: "drag-chosen",
    };
    for (const list of board.querySelectorAll(".column > .cards")) {
      window.Sortable.create(list, {
        ...common,
        onStart: (event) => {
          event.item.boardHome = { list: event.from, next: event.item.nextElementSibling };
          document.body.classList.add("board-dragging");
        },
        onEnd: (event) => {
          document.body.classList.remove("board-dragging");
          dropped(event);
        },
      });
    }
    if (outcomes) {
      outcomes.hidden = false;
      for (const list of outcomes.querySelectorAll(".cards")) {
        window.Sortable.create(list, { ...common, group: { name: "deals", pull: false, put: true } });
      }
    }

    // "Move" on a card: the page carries one dialog to pick the target (a stage, Won or
    // Lost); the card then goes there as if dropped, so what a drop asks for (the exit
    // criterion confirmed, a loss reason, the final amount) and what a drop can meet (someone
    // else's change: a conflict, the card back in place) are the same. Without the script the
    // link opens the deal page's move form.
    const picker = document.getElementById("board-move-to");

    function listFor(target) {
      if (target === "win" || target === "lose") {
        return outcomes?.querySelector(`[data-outcome="${target}"]`) || null;
      }
      return board.querySelector(`.column > .cards[data-stage="${CSS.escape(target)}"]`);
    }

    function openPicker(card) {
      const form = picker.querySelector("form");
      const select = form.querySelector("select");
      form.reset();
      fill(picker, "name", cardName(card));
      // The card's own stage is no target; the one after it is offered first.
      const options = [...select.options];
      const here = options.findIndex((option) => option.value === card.dataset.stage);
      for (const option of options) option.disabled = option.value === card.dataset.stage;
      select.selectedIndex = Math.min(here + 1, options.length - 1);
      let target = "";
      form.onsubmit = (event) => {
        event.preventDefault();
        target = select.value;
        picker.close();
      };
      picker.querySelector("[data-cancel]").onclick = () => picker.close();
      picker.onclose = () => {
        const from = card.parentNode;
        const to = target ? listFor(target) : null;
        card.keyboardMove = true;
        if (!to || to === from) {
          refocus(card, null);
          return;
        }
        clearCardError(card);
        card.boardHome = { list: from, next: card.nextElementSibling };
        to.insertBefore(card, to.querySelector(":scope > .more, :scope > .empty"));
        dropped({ item: card, from, to });
      };
      picker.showModal();
    }

    if (picker) {
      board.addEventListener("click", (event) => {
        const link = event.target.closest?.("[data-move]");
        const card = link?.closest(".deal-card");
        if (!card || !board.contains(card)) return;
        event.preventDefault();
        openPicker(card);
      });
    }

    // "Log touch" on a card: the page carries the form once; opening a card's copy of it fills
    // in the deal (the cards stay light, however many a column shows).
    const quickTouch = document.getElementById("quick-touch-form");
    board.addEventListener(
      "toggle",
      (event) => {
        const details = event.target;
        if (!quickTouch || !details.open || !details.classList?.contains("quick-touch")) return;
        if (details.querySelector("form")) return;
        const card = details.closest(".deal-card");
        const pk = card.dataset.deal;
        const form = quickTouch.content.firstElementChild.cloneNode(true);
        form.action = form.dataset.actionUrl.replace(/\/0\/touch\/$/, `/${pk}/touch/`);
        for (const field of form.querySelectorAll("[data-id]")) field.id = `qt-${field.dataset.id}-${pk}`;
        for (const label of form.querySelectorAll("[data-for]")) label.htmlFor = `qt-${label.dataset.for}-${pk}`;
        const link = form.querySelector("[data-href]");
        link.href = card.querySelector(":scope > a").getAttribute("href") + link.dataset.href;
        details.querySelector(".quick-touch-fallback")?.remove();
        details.append(form);
        form.querySelector("[name=note]").focus();
      },
      true,
    );

    // A page of cards loaded by "Show more" may repeat a card dropped into the column since
    // the page was rendered: keep the one already shown.
    document.body.addEventListener("htmx:afterSettle", () => {
      for (const list of board.querySelectorAll(".column > .cards")) {
        const seen = new Set();
        for (const card of list.querySelectorAll(":scope > .deal-card")) {
          if (seen.has(card.id)) card.remove();
          else seen.add(card.id);
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const board = document.querySelector("[data-board]");
    if (board && window.Sortable && window.htmx) initBoard(board);
  });
})();
