// Small behaviours for the server-rendered pages; everything else is htmx or plain forms.
(function () {
  "use strict";

  function copyText(text, button) {
    var done = function () {
      var old = button.textContent;
      button.textContent = button.getAttribute("data-copied") || "✓";
      setTimeout(function () { button.textContent = old; }, 1600);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* the field stays selectable by hand */ }
    document.body.removeChild(area);
  }

  // The menu drawer on narrow screens; the sidebar is always visible from 900 px up.
  function setNav(open) {
    document.body.classList.toggle("nav-open", open);
    document.querySelectorAll("[data-nav-toggle]").forEach(function (b) {
      b.setAttribute("aria-expanded", open ? "true" : "false");
    });
    var backdrop = document.querySelector(".nav-backdrop");
    if (backdrop) { backdrop.hidden = !open; }
    if (open) {
      var first = document.querySelector("#sidebar a");
      if (first) { first.focus(); }
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("nav-open")) { setNav(false); }
  });

  // Replaces inline onsubmit confirm() handlers, which a Content-Security-Policy would block.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-nav-toggle]")) {
      setNav(!document.body.classList.contains("nav-open"));
      return;
    }
    if (event.target.closest("[data-nav-close]")) { setNav(false); return; }
    var opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
      if (dialog && !dialog.open) { dialog.showModal(); }
      return;
    }
    var closer = event.target.closest("[data-dialog-close]");
    if (closer) {
      var box = closer.closest("dialog");
      if (box) { box.close(); }
      if (closer.hasAttribute("data-reload")) { window.location.reload(); }
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (source) { copyText(source.value || source.textContent, copy); }
    }
  });

  // A new field's key follows its label (as forms.key_from_label does) until it is edited by hand.
  function keyFromLabel(label) {
    var map = { "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss" };
    var text = label.trim().toLowerCase().replace(/[äöüß]/g, function (c) { return map[c]; });
    text = text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
    var key = text.replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
    if (key && !/^[a-z]/.test(key)) { key = "f_" + key; }
    return key.slice(0, 64).replace(/_+$/, "");
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches("[data-key-target]")) {
      target.setAttribute("data-edited", target.value ? "true" : "");
      return;
    }
    if (target.matches("[data-key-source]")) {
      var key = target.form && target.form.querySelector("[data-key-target]");
      if (key && !key.getAttribute("data-edited")) { key.value = keyFromLabel(target.value); }
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]")) {
      event.target.form.requestSubmit ? event.target.form.requestSubmit() : event.target.form.submit();
    }
  });

  // A dialog rendered open by the server (a form with errors, without htmx) becomes modal.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("dialog[data-open-on-load]").forEach(function (d) {
      if (!d.open) { d.showModal(); }
    });
  });

  // 422 answers carry the page's explanation (a form's errors, a template's problems): show
  // them like any other answer instead of htmx's default of ignoring 4xx bodies.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Server-rendered dialogs swapped in by htmx open themselves.
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.target.closest ? event.target.closest("dialog") : null;
    if (dialog && !dialog.open) { dialog.showModal(); }
  });
})();
