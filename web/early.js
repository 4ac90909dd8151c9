// Berth's first clicks. A page the server rendered shows its rows before app.wasm runs; until
// the app takes the page over, copy buttons copy here (their text is in data-copy), and other
// controls keep the click, show that they wait (aria-busy), and get it again from the app.
(() => {
  "use strict";
  const controls = "button, input, select, summary, textarea, [role=button], [role=tab]";
  const typed = "input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit]), textarea, select";
  const pending = []; // {key, submit}: clicks and submits to replay, in order
  const values = new Map(); // key → what was typed into a field
  let focused = null; // key of the field or control that has the keyboard
  let ready = false;

  // key names a control so that it is found again in the page the app renders from the same
  // data: by id, else by tag, name and place among the controls named alike.
  const key = (el) => {
    if (el.id) return "#" + el.id;
    const sig = (e) => e.tagName + "|" + (e.getAttribute("aria-label") || e.title || e.textContent.trim()) + "|" + (e.type || "");
    const s = sig(el);
    const twins = [...document.querySelectorAll(el.tagName)].filter((e) => sig(e) === s);
    return s + "|" + twins.indexOf(el);
  };
  const find = (k) => {
    if (k.startsWith("#")) return document.getElementById(k.slice(1));
    const [tag, name, type, n] = k.split("|");
    const sig = (e) => (e.getAttribute("aria-label") || e.title || e.textContent.trim()) === name && (e.type || "") === type;
    return [...document.querySelectorAll(tag)].filter(sig)[Number(n)] || null;
  };

  const copied = (el, text) => {
    window.berthCopied = text;
    const live = document.getElementById("announce");
    if (live) live.textContent = "Copied to the clipboard: " + text;
    if (el.children.length === 0) {
      const was = el.textContent;
      el.textContent = "Copied ✓";
      setTimeout(() => { if (el.isConnected) el.textContent = was; }, 2000);
    }
  };
  // copy writes through the Clipboard API, or the older selection copy where it is missing.
  const copy = (el) => {
    const text = el.dataset.copy;
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(() => copied(el, text), () => fallback(el, text));
    } else {
      fallback(el, text);
    }
  };
  const fallback = (el, text) => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    el.focus();
    if (ok) copied(el, text);
  };

  const wait = (el) => {
    el.setAttribute("aria-busy", "true");
    el.classList.add("waiting");
  };
  const onClick = (e) => {
    const el = e.target.closest && e.target.closest(controls);
    if (ready || !el || el.closest("#app-wasm-loader") || el.matches(typed)) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    if (el.dataset.copy !== undefined) return copy(el);
    if (el.getAttribute("aria-busy") === "true") return; // already waiting: one click is kept
    wait(el);
    pending.push({ key: key(el) });
  };
  const onSubmit = (e) => {
    if (ready) return;
    e.preventDefault();
    wait(e.target);
    pending.push({ key: key(e.target), submit: true });
  };
  const onInput = (e) => {
    if (!ready && e.target.matches && e.target.matches(typed)) values.set(key(e.target), e.target.value);
  };
  const onFocus = (e) => {
    if (!ready && e.target.matches && e.target.matches(controls)) focused = key(e.target);
  };
  document.addEventListener("focusin", onFocus, true);
  document.addEventListener("click", onClick, true);
  document.addEventListener("submit", onSubmit, true);
  document.addEventListener("input", onInput, true);
  document.addEventListener("change", onInput, true);

  // replay hands what was typed and clicked to the app's page: each control once it shows
  // (the app may render its rows a frame later), giving up after 10 s.
  const replay = () => {
    ready = true;
    keepFocus();
    for (const [k, v] of values) {
      pending.unshift({ key: k, value: v });
    }
    const started = performance.now();
    // One control per step, a frame apart, as a person's clicks come: go-app handles the
    // events of one frame together, and a click's re-render can undo the next one's.
    const step = () => {
      if (pending.length === 0) return;
      const p = pending[0];
      const el = find(p.key);
      if (!el) {
        if (performance.now() - started < 10000) requestAnimationFrame(step);
        return;
      }
      pending.shift();
      if (p.value !== undefined) {
        el.value = p.value;
        el.dispatchEvent(new Event(el.tagName === "SELECT" ? "change" : "input", { bubbles: true }));
      } else if (p.submit) {
        el.requestSubmit();
      } else {
        el.click();
      }
      requestAnimationFrame(() => setTimeout(step, 50));
    };
    step();
  };

  // keepFocus gives the keyboard back to the field that had it, in the app's page, with
  // what was typed so far: the app replaces the server's page in one go, and keys pressed
  // after that must not go to the page's body. The field's value is then replayed no more.
  const keepFocus = () => {
    if (!focused || (document.activeElement && document.activeElement !== document.body)) return;
    const el = find(focused);
    if (!el) return;
    if (values.has(focused)) {
      el.value = values.get(focused);
      values.delete(focused);
      el.dispatchEvent(new Event(el.tagName === "SELECT" ? "change" : "input", { bubbles: true }));
    }
    el.focus();
    if (typeof el.value === "string" && el.setSelectionRange && el.matches(typed) && el.tagName !== "SELECT") {
      try { el.setSelectionRange(el.value.length, el.value.length); } catch (_) { /* not a text field */ }
    }
  };

  // go-app removes its loader once app.wasm has rendered the page and bound its handlers.
  const watch = () => {
    if (!document.getElementById("app-wasm-loader")) return replay();
    const seen = new MutationObserver(() => {
      if (!document.getElementById("app-wasm-loader")) {
        seen.disconnect();
        replay();
      }
    });
    seen.observe(document.body, { childList: true });
  };
  if (document.body) {
    watch();
  } else {
    document.addEventListener("DOMContentLoaded", watch);
  }

  // The answers the page's app asks for first (its seed lists them) are asked for as soon as
  // the page is parsed, while app.wasm loads; the app takes each over once (app/client's
  // transport looks in berthPrefetch before it fetches), whole, or asks again itself if one
  // failed. Unclaimed ones are dropped after a minute.
  window.berthPrefetch = new Map();
  const prefetch = () => {
    const el = document.getElementById("berth-seed");
    if (!el) return;
    let seed;
    try { seed = JSON.parse(el.textContent); } catch (_) { return; }
    if (!seed || seed.page !== location.pathname + location.search) return;
    for (const p of seed.prefetch || []) {
      const ctl = new AbortController();
      const got = fetch(p.path, { headers: { Accept: p.accept }, credentials: "same-origin", signal: ctl.signal })
        .then((r) => r.arrayBuffer().then((body) => ({ status: r.status, statusText: r.statusText, headers: r.headers, body: new Uint8Array(body) })));
      got.catch(() => {}); // a failure is the app's to see, when it claims the answer
      window.berthPrefetch.set(p.path, { accept: p.accept, got, ctl });
      setTimeout(() => window.berthPrefetch.delete(p.path), 60000);
    }
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", prefetch, { once: true });
  } else {
    prefetch();
  }
})();
