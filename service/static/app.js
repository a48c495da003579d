/* outreach phone pages: the offline queue and the answers' checks as they are typed.
 *
 * The pages work without this file (plain forms). With it:
 * - A form marked data-queue is kept on the phone (localStorage) before it is sent, with
 *   its own Idempotency-Key (the hidden "key" field, made when the page was rendered).
 *   No network: it stays, the page says "N waiting to be sent", and it is sent again with
 *   the same key when the network returns, on the next page opened, also after the page was
 *   closed: the ledger records it once, however often it arrives.
 * - An answer field marked data-check is checked while it is typed, by the server's own
 *   rule (POST /app/check); the server still judges the whole form when it is sent.
 * - The member's link page: its button shares the link (navigator.share) or copies it.
 * ES5 on purpose: old phones.
 */
(function () {
  "use strict";

  /* The member's link page: the phone's share sheet where there is one, else a copy to
     the clipboard. Without either (or without scripting) the button stays hidden and the
     link is there as text. */
  function share(button) {
    var status = document.getElementById("share-status");
    var canCopy = navigator.clipboard && navigator.clipboard.writeText;
    if (!button || !(navigator.share || canCopy)) { return; }
    function say(name) {
      status.textContent = button.getAttribute(name);
      status.hidden = false;
    }
    function copy() {
      if (!canCopy) { say("data-failed"); return; }
      navigator.clipboard.writeText(button.getAttribute("data-url")).then(
        function () { say("data-copied"); }, function () { say("data-failed"); });
    }
    if (!navigator.share) { button.textContent = button.getAttribute("data-copy"); }
    button.hidden = false;
    button.addEventListener("click", function () {
      if (!navigator.share) { copy(); return; }
      navigator.share({title: button.getAttribute("data-title"),
                       text: button.getAttribute("data-text"),
                       url: button.getAttribute("data-url")})
        .then(function () {}, function (e) { if (!e || e.name !== "AbortError") { copy(); } });
    });
  }

  var QUEUE = "outreach.queue.v1";
  var PROBLEMS = "outreach.problems.v1";
  var box = document.getElementById("queue");
  var sending = false;
  share(document.getElementById("share"));
  if (!window.fetch || !window.localStorage || !window.URLSearchParams || !window.FormData) {
    return; // the plain forms do it all
  }

  function load(name) {
    try { return JSON.parse(localStorage.getItem(name) || "[]"); } catch (e) { return []; }
  }
  function save(name, items) { localStorage.setItem(name, JSON.stringify(items)); }
  function csrf() {
    var m = document.querySelector('meta[name="csrf"]');
    return m ? m.getAttribute("content") : null;
  }
  function put(item) { // one entry per key: the same form sent again replaces it
    var items = load(QUEUE).filter(function (i) { return i.key !== item.key; });
    items.push(item);
    save(QUEUE, items);
  }
  function drop(key) {
    save(QUEUE, load(QUEUE).filter(function (i) { return i.key !== key; }));
  }

  function show(extra) {
    if (!box) { return; }
    var n = load(QUEUE).length;
    var problems = load(PROBLEMS);
    while (box.firstChild) { box.removeChild(box.firstChild); }
    var lines = [];
    if (extra) { lines.push([extra]); }
    if (n) {
      lines.push([box.getAttribute("data-waiting").replace("{n}", n)]);
      if (!csrf()) { lines.push([box.getAttribute("data-login")]); }
    }
    problems.forEach(function (p) {
      lines.push([box.getAttribute("data-refused").replace("{what}", ""), p.what, p.page]);
    });
    lines.forEach(function (line) {
      var p = document.createElement("p");
      p.appendChild(document.createTextNode(line[0]));
      if (line[2]) {
        var a = document.createElement("a");
        a.href = line[2];
        a.appendChild(document.createTextNode(line[1]));
        p.appendChild(a);
      }
      box.appendChild(p);
    });
    box.hidden = lines.length === 0;
  }

  /* One send: "sent" (answered: the record is in), "kept" (no network, or the ledger is
     busy: try later), "login" (the session has ended), "refused" (the ledger said no). */
  function send(item) {
    var token = csrf();
    if (!token) { return Promise.resolve({state: "login"}); }
    var body = new URLSearchParams(item.body);
    body.set("csrf", token);
    return fetch(item.url, {method: "POST", body: body, credentials: "same-origin"})
      .then(function (res) {
        var path = new URL(res.url, location.href).pathname;
        if (path === "/app/login") { return {state: "login"}; }
        if (res.ok) { return {state: "sent", url: res.url}; }
        if (res.status >= 500) { return {state: "kept"}; }
        return {state: "refused"};
      }, function () { return {state: "kept"}; });
  }

  function flush() {
    if (sending || !csrf()) { show(); return; }
    var items = load(QUEUE);
    if (!items.length) { show(); return; }
    sending = true;
    var sent = 0;
    var chain = Promise.resolve();
    items.forEach(function (item) {
      chain = chain.then(function () {
        return send(item).then(function (r) {
          if (r.state === "sent") { drop(item.key); sent += 1; }
          if (r.state === "refused") {
            drop(item.key);
            var problems = load(PROBLEMS);
            problems.push({what: item.what, page: item.page});
            save(PROBLEMS, problems);
          }
        });
      });
    });
    chain.then(function () {
      sending = false;
      show();
      if (sent && location.pathname === "/app/") { location.reload(); }
    });
  }

  function submitter(form, ev) {
    var b = ev.submitter || document.activeElement;
    return b && b.form === form && b.name ? b : null;
  }

  function nativeSubmit(form, button) {
    if (button) {
      var h = document.createElement("input");
      h.type = "hidden";
      h.name = button.name;
      h.value = button.value;
      form.appendChild(h);
    }
    HTMLFormElement.prototype.submit.call(form);
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-queue]"), function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = submitter(form, ev);
      var data = new FormData(form);
      if (button) { data.append(button.name, button.value); }
      data["delete"]("csrf");
      var body = new URLSearchParams();
      data.forEach(function (v, k) { body.append(k, v); });
      var item = {url: form.getAttribute("action"), body: body.toString(),
                  key: data.get("key"), what: form.getAttribute("data-what") || "",
                  page: location.pathname, at: Date.now()};
      put(item);
      var buttons = form.querySelectorAll("button");
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
      send(item).then(function (r) {
        if (r.state === "sent") { drop(item.key); location.assign(r.url); return; }
        if (r.state === "refused") { drop(item.key); nativeSubmit(form, button); return; }
        show(box ? box.getAttribute("data-saved") : "");
        if (box) { box.scrollIntoView(); }
      });
    });
  });

  // A task page opened again: its earlier refusal has been seen.
  save(PROBLEMS, load(PROBLEMS).filter(function (p) { return p.page !== location.pathname; }));

  /* Answers checked while they are typed, by the ledger's own rule. */
  Array.prototype.forEach.call(document.querySelectorAll("input[data-check]"), function (input) {
    var timer = null;
    var field = input.parentNode;
    var live = document.getElementById(input.id + "-live");
    var before = document.getElementById(input.id + "-error");
    function check() {
      var token = csrf();
      if (!token || !live) { return; }
      var body = new URLSearchParams();
      body.set("key", input.getAttribute("data-check"));
      body.set("value", input.value);
      body.set("csrf", token);
      fetch("/app/check", {method: "POST", body: body, credentials: "same-origin"})
        .then(function (res) { return res.ok ? res.json() : null; })
        .then(function (answer) {
          if (!answer) { return; }
          if (before) { before.hidden = true; }
          if (answer.error) {
            live.textContent = answer.error;
            live.hidden = false;
            field.className = "field error";
            input.setAttribute("aria-invalid", "true");
          } else {
            live.textContent = "";
            live.hidden = true;
            field.className = "field";
            input.removeAttribute("aria-invalid");
          }
        }, function () { /* offline: the server judges when the form is sent */ });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(check, 400);
    });
    input.addEventListener("change", check);
  });

  window.addEventListener("online", flush);
  setInterval(function () { if (load(QUEUE).length) { flush(); } }, 30000);
  flush();
}());
