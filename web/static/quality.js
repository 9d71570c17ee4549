// The Inspection page's model-quality charts: one uPlot per device of its
// sliding windows, the canary baseline as dashed lines, and drift markers
// as vertical lines listed under the chart (/inspection/quality?device=).
(function () {
  var colours = { defect_rate: "#c33", mean_top_confidence: "#36c", uncertain_share: "#c90" };
  var names = ["defect_rate", "mean_top_confidence", "uncertain_share"];

  function columns(d) {
    // One x per window end; where two models overlap, the later one wins.
    var byT = {};
    d.points.forEach(function (p) { byT[Date.parse(p.at) / 1000] = p; });
    var xs = Object.keys(byT).map(Number).sort(function (a, b) { return a - b; });
    var base = d.baselines.filter(function (b) { return !b.missing; })[0];
    var cols = [xs];
    names.forEach(function (n) { cols.push(xs.map(function (x) { var v = byT[x][n]; return v === undefined ? null : v; })); });
    names.forEach(function (n) { cols.push(xs.map(function () { return base && base[n] !== undefined ? base[n] : null; })); });
    return cols;
  }

  function markerLines(markers) {
    return function (u) {
      var ctx = u.ctx;
      markers.forEach(function (m) {
        var x = Math.round(u.valToPos(Date.parse(m.at) / 1000, "x", true));
        ctx.save();
        ctx.strokeStyle = m.type === "quality.drift" ? "#d00" : "#090";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.restore();
      });
    };
  }

  function show(sec, d) {
    var series = [{}];
    names.forEach(function (n) { series.push({ label: n.replace(/_/g, " "), stroke: colours[n] }); });
    names.forEach(function (n) { series.push({ label: "baseline " + n.replace(/_/g, " "), stroke: colours[n], dash: [6, 4], width: 1 }); });
    var chart = sec.querySelector(".qchart");
    chart.textContent = "";
    new uPlot({ width: 800, height: 220, series: series, scales: { x: { time: true, range: [Date.parse(d.from) / 1000, Date.parse(d.to) / 1000] }, y: { range: [0, 1] } }, hooks: { draw: [markerLines(d.markers)] } }, columns(d), chart);
    var b = sec.querySelector(".baseline");
    b.textContent = d.baselines.map(function (x) {
      return (x.model.length === 64 ? x.model.slice(0, 12) + "…" : x.model) + ": " + (x.missing ? "no baseline — " + x.missing : "baseline of " + x.frames + " canary frames (deployment " + x.deployment + ")");
    }).join("; ") || "no results in the last hours";
    var ul = sec.querySelector(".markers");
    ul.textContent = "";
    d.markers.forEach(function (m) {
      var li = document.createElement("li");
      li.className = m.type === "quality.drift" ? "drift-marker bad" : "drift-marker ok";
      li.dataset.type = m.type;
      li.textContent = new Date(m.at).toLocaleTimeString() + " " + m.model + " " +
        (m.type === "quality.drift" ? "drift: " + (m.departed || []).join("; ") : "back within its margins");
      ul.appendChild(li);
    });
    sec.dataset.markers = d.markers.length;
    sec.dataset.loaded = "1";
  }

  function load() {
    document.querySelectorAll("section.quality").forEach(function (sec) {
      fetch("/inspection/quality?device=" + encodeURIComponent(sec.dataset.device), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (d) { show(sec, d); });
    });
  }
  load();
  setInterval(load, 30000);
})();
