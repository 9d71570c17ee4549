// The labelling page: one image of the queue at a time with its boxes in
// an SVG over it, in image pixels (the SVG's viewBox is the image's size).
// Draw on the image, drag a box to move it, drag a corner of the selected
// box to resize it; keys for everything (see the page's hint). Saves name
// the label version the image was loaded at, so a save over someone else's
// newer one is refused (409) and the message says who.
(function () {
  "use strict";
  var root = document.getElementById("labeller");
  if (!root) return;
  var queue = JSON.parse(root.dataset.queue || "[]");
  var mayLabel = root.dataset.mayLabel === "true";
  var csrf = root.dataset.csrf;
  var svg = document.getElementById("boxes"), photo = document.getElementById("photo");
  var classSel = document.getElementById("class"), statusEl = document.getElementById("status");
  var NS = "http://www.w3.org/2000/svg";
  var MIN = 2; // a box narrower or lower than this (image pixels) is a click, not a box

  var pos = 0, item = null, boxes = [], selected = -1, drag = null, defaultClass = "";

  function say(msg, kind) {
    statusEl.textContent = msg;
    statusEl.className = kind || "";
  }

  function el(name, attrs) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  // toImage maps a mouse event to image pixels, inside the image.
  function toImage(ev) {
    var r = svg.getBoundingClientRect();
    var x = (ev.clientX - r.left) * item.width / r.width, y = (ev.clientY - r.top) * item.height / r.height;
    return { x: Math.min(Math.max(x, 0), item.width), y: Math.min(Math.max(y, 0), item.height) };
  }

  function handleSize() {
    var r = svg.getBoundingClientRect();
    return r.width ? 10 * item.width / r.width : 10;
  }

  function render() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!item) return;
    svg.setAttribute("viewBox", "0 0 " + item.width + " " + item.height);
    svg.setAttribute("preserveAspectRatio", "none");
    var hs = handleSize();
    boxes.forEach(function (b, i) {
      var r = el("rect", { x: b.x, y: b.y, width: b.width, height: b.height, "class": "box" + (i === selected ? " sel" : ""), "data-i": i });
      svg.appendChild(r);
      var t = el("text", { x: b.x + 2, y: Math.max(b.y - 3, hs), "font-size": hs * 1.3 });
      t.textContent = b["class"];
      svg.appendChild(t);
    });
    if (selected >= 0 && boxes[selected]) {
      var b = boxes[selected];
      [["nw", b.x, b.y], ["ne", b.x + b.width, b.y], ["sw", b.x, b.y + b.height], ["se", b.x + b.width, b.y + b.height]].forEach(function (c) {
        svg.appendChild(el("rect", { x: c[1] - hs / 2, y: c[2] - hs / 2, width: hs, height: hs, "class": "handle " + c[0], "data-corner": c[0] }));
      });
    }
    classSel.value = selected >= 0 && boxes[selected] ? boxes[selected]["class"] : defaultClass;
    document.getElementById("info").textContent = item.device + " · " + item.msg_id + " · " + item.reason + " · " + item.state +
      (item.labelled_by ? " by " + item.labelled_by : "") + " · model " + item.model.name + "@" + item.model.version +
      " (" + (item.model.sha256 || "").slice(0, 12) + ")" +
      (item.component_version ? " · " + item.component + " " + item.component_version : "") +
      (item.captured_at ? " · captured " + item.captured_at : "") + (item.part_id ? " · part " + item.part_id : "") +
      " · " + item.prelabels.length + " pre-labels · " + boxes.length + " boxes";
    document.getElementById("pos").textContent = queue.length ? (pos + 1) + " / " + queue.length : "0 / 0";
  }

  function copy(bs) {
    return (bs || []).map(function (b) { return { "class": b["class"], x: b.x, y: b.y, width: b.width, height: b.height }; });
  }

  // load shows the queue's i-th image; msg, if given, stays on show.
  function load(i, msg) {
    if (!queue.length) {
      say("Nothing to label with these filters.");
      render();
      return;
    }
    pos = Math.min(Math.max(i, 0), queue.length - 1);
    var q = queue[pos];
    fetch("/labelling/items/" + encodeURIComponent(q.device) + "/" + encodeURIComponent(q.msg_id), { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) {
          // Gone (retention) or refused: nothing on show that a key could save.
          item = null;
          boxes = [];
          delete root.dataset.loaded;
          photo.removeAttribute("src");
          render();
          say(res.body.error.message, "error");
          return;
        }
        item = res.body;
        // A new image starts from the model's boxes; a labelled one from its label.
        boxes = copy(item.state === "new" ? item.prelabels : item.boxes);
        selected = -1;
        classSel.innerHTML = "";
        (item.classes || []).forEach(function (c) {
          var o = document.createElement("option");
          o.value = o.textContent = c;
          classSel.appendChild(o);
        });
        if (!defaultClass || (item.classes || []).indexOf(defaultClass) < 0) defaultClass = (item.classes || [""])[0] || "";
        classSel.value = defaultClass;
        photo.onload = render;
        photo.src = "/images/" + encodeURIComponent(item.device) + "/" + encodeURIComponent(item.msg_id);
        photo.width = item.width;
        photo.height = item.height;
        root.dataset.loaded = item.device + "/" + item.msg_id + "@" + item.version;
        say(msg || "", msg ? "ok" : "");
        render();
      });
  }

  function save(state, bs) {
    if (!item) return;
    var body = { version: item.version, state: state, boxes: state === "skipped" ? [] : copy(bs) };
    fetch("/labelling/items/" + encodeURIComponent(item.device) + "/" + encodeURIComponent(item.msg_id), {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) {
          say(res.body.error.message, "error");
          return;
        }
        var msg = "Saved " + res.body.msg_id + ": " + res.body.state + ", " + res.body.boxes.length + " boxes (version " + res.body.version + ").";
        root.dataset.saved = res.body.device + "/" + res.body.msg_id + "@" + res.body.version;
        if (pos < queue.length - 1) {
          load(pos + 1, msg);
        } else {
          item = res.body;
          render();
          say(msg + " That was the last image of the queue.", "ok");
        }
      });
  }

  // Mouse: on a handle, resize; on a box, select and move; elsewhere, draw.
  svg.addEventListener("mousedown", function (ev) {
    if (!item || !mayLabel || ev.button !== 0) return;
    ev.preventDefault();
    var p = toImage(ev), t = ev.target;
    if (t.dataset.corner) {
      var b = boxes[selected], c = t.dataset.corner;
      // The corner opposite the one taken stays where it is.
      var fx = c.indexOf("w") >= 0 ? b.x + b.width : b.x, fy = c.indexOf("n") >= 0 ? b.y + b.height : b.y;
      drag = { kind: "resize", fx: fx, fy: fy };
    } else if (t.dataset.i !== undefined) {
      selected = +t.dataset.i;
      var s = boxes[selected];
      drag = { kind: "move", dx: p.x - s.x, dy: p.y - s.y };
    } else {
      boxes.push({ "class": defaultClass, x: p.x, y: p.y, width: 0, height: 0 });
      selected = boxes.length - 1;
      drag = { kind: "resize", fx: p.x, fy: p.y, fresh: true };
    }
    render();
  });

  window.addEventListener("mousemove", function (ev) {
    if (!drag || selected < 0) return;
    var p = toImage(ev), b = boxes[selected];
    if (drag.kind === "move") {
      b.x = Math.min(Math.max(p.x - drag.dx, 0), item.width - b.width);
      b.y = Math.min(Math.max(p.y - drag.dy, 0), item.height - b.height);
    } else {
      b.x = Math.min(p.x, drag.fx);
      b.y = Math.min(p.y, drag.fy);
      b.width = Math.abs(p.x - drag.fx);
      b.height = Math.abs(p.y - drag.fy);
    }
    render();
  });

  window.addEventListener("mouseup", function () {
    if (!drag) return;
    var b = boxes[selected];
    if (b) {
      // Whole pixels: what a YOLO label file can say anyway, to a pixel.
      var x1 = Math.round(b.x + b.width), y1 = Math.round(b.y + b.height);
      b.x = Math.round(b.x);
      b.y = Math.round(b.y);
      b.width = x1 - b.x;
      b.height = y1 - b.y;
      if (b.width < MIN || b.height < MIN) {
        boxes.splice(selected, 1);
        selected = -1;
      }
    }
    drag = null;
    render();
  });

  function setClass(c) {
    if (!item || (item.classes || []).indexOf(c) < 0) return;
    defaultClass = c;
    if (selected >= 0) boxes[selected]["class"] = c;
    render();
  }

  function remove() {
    if (selected < 0) return;
    boxes.splice(selected, 1);
    selected = -1;
    render();
  }

  classSel.addEventListener("change", function () { setClass(classSel.value); });
  document.getElementById("prev").onclick = function () { load(pos - 1); };
  document.getElementById("next").onclick = function () { load(pos + 1); };
  document.getElementById("delete").onclick = remove;
  document.getElementById("save").onclick = function () { save("labelled", boxes); };
  function accept() {
    if (item) save("labelled", item.prelabels);
  }

  document.getElementById("accept").onclick = accept;
  document.getElementById("nodefect").onclick = function () { save("labelled", []); };
  document.getElementById("skip").onclick = function () { save("skipped", []); };
  if (!mayLabel) {
    Array.prototype.forEach.call(root.querySelectorAll("button.edit"), function (b) { b.disabled = true; });
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.target.closest && ev.target.closest("form.filters")) return; // typing a filter
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var k = ev.key, done = true;
    if (k >= "1" && k <= "9") {
      setClass((item && item.classes || [])[+k - 1]);
    } else if (k === "Delete" || k === "Backspace") {
      remove();
    } else if (k === "Tab") {
      if (boxes.length) selected = (selected + (ev.shiftKey ? boxes.length - 1 : 1)) % boxes.length;
      render();
    } else if (k === "Escape") {
      selected = -1;
      render();
    } else if (k === "Enter") {
      save("labelled", boxes);
    } else if (k === "a" || k === "A") {
      accept();
    } else if (k === "n" || k === "N") {
      save("labelled", []);
    } else if (k === "s" || k === "S") {
      save("skipped", []);
    } else if (k === "ArrowRight") {
      load(pos + 1);
    } else if (k === "ArrowLeft") {
      load(pos - 1);
    } else {
      done = false;
    }
    if (done) ev.preventDefault();
  });

  load(0);
})();
