// The lists' "tick every row on this page" box: shown only where JavaScript runs (without it,
// "all matching the filter" in the bulk form does the same and more).
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("input[data-tick-all]")) {
    box.hidden = false;
  }
});
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.hasAttribute("data-tick-all")) {
    return;
  }
  const name = box.getAttribute("data-tick-all");
  for (const row of document.querySelectorAll(`input[type=checkbox][name="${name}"]`)) {
    row.checked = box.checked;
  }
});
