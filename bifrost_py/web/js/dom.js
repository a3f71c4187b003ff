// Building DOM nodes without innerHTML: every value from the API goes in as text, so a model
// name or an error message can never inject markup.

/** h("button", {class: "primary", onclick: fn}, "Save") -> an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

/** SVG elements need their namespace; otherwise the same as h(). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined && value !== false) el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The message a new user sees where data will appear: what this is and what to do next. */
export function emptyState(title, ...hints) {
  return h("div", { class: "empty", role: "note" },
    h("p", { class: "empty-title" }, title),
    hints.map((hint) => h("p", {}, hint)));
}

/** A code snippet with a copy button (the secret of a new key, the export lines). */
export function copyable(text, label) {
  const status = h("span", { class: "copy-status", role: "status", "aria-live": "polite" });
  const button = h("button", {
    type: "button", class: "secondary small",
    "aria-label": `Copy ${label}`,
    onclick: async () => {
      const ok = await copyText(text);
      status.textContent = ok ? "Copied" : "Select the text and copy it by hand";
    },
  }, "Copy");
  return h("div", { class: "copyable" }, h("pre", { tabindex: "0", "aria-label": label }, h("code", {}, text)),
    h("div", { class: "copy-actions" }, button, status));
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // navigator.clipboard needs a secure context; http://gateway-host:8080 is not one.
    const area = h("textarea", { class: "visually-hidden", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

/** A labelled form field; `control` is an <input>/<select> element, given an id here. */
let fieldCounter = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCounter}`;
  control.id = id;
  const hintEl = hint ? h("small", { id: `${id}-hint`, class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

/** A <select> from [value, text] pairs. */
export function select(attrs, options, selected = "") {
  return h("select", attrs, options.map(([value, text]) =>
    h("option", { value, selected: String(value) === String(selected) }, text)));
}

/** A modal dialog (native <dialog>: focus is trapped and Escape closes it). */
export function openDialog(title, body, { wide = false, onclose } = {}) {
  const heading = h("h2", { id: `dlg-${++fieldCounter}` }, title);
  const close = h("button", { type: "button", class: "icon", "aria-label": "Close" }, "×");
  const dialog = h("dialog", { class: wide ? "wide" : null, "aria-labelledby": heading.id },
    h("header", { class: "dialog-head" }, heading, close), h("div", { class: "dialog-body" }, body));
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { dialog.remove(); if (onclose) onclose(); });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}
