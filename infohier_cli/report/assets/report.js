// infohier report: expand / collapse the whole tree. Opened as REPORT.html#selftest, the
// page also checks itself (the tree expands, every image decodes) and writes what it found
// as JSON into <pre id="selftest"> for a headless browser's dumped DOM.
(function () {
  "use strict";
  var tree = document.getElementById("tree");
  function all() { return Array.prototype.slice.call(tree.querySelectorAll("details")); }
  function setAll(open) { all().forEach(function (d) { d.open = open; }); }
  document.getElementById("expand-all").addEventListener("click", function () { setAll(true); });
  document.getElementById("collapse-all").addEventListener("click", function () { setAll(false); });
  if (location.hash !== "#selftest") { return; }
  var errors = [];
  window.addEventListener("error", function (e) { errors.push(String(e.message || e.type)); }, true);
  function shown(element) {  // rendered: not inside a closed <details>, not display:none
    return element.checkVisibility ? element.checkVisibility() : element.getClientRects().length > 0;
  }
  function tall(element) { return element.getBoundingClientRect().height; }
  window.addEventListener("load", function () {
    var kids = function (d) { return d.querySelector(":scope > .kids"); };
    // closed nodes a reader can see now: a click on their summary must reveal their children
    var closed = all().filter(function (d) { return !d.open && shown(d.querySelector("summary")); });
    var hidden = closed.filter(function (d) { return !shown(kids(d)); }).length;
    var before = closed.map(tall);
    closed.forEach(function (d) { d.querySelector("summary").click(); });
    var revealed = closed.filter(function (d, i) {
      return d.open && shown(kids(d)) && tall(d) > before[i];
    }).length;
    document.getElementById("expand-all").click();
    var images = Array.prototype.slice.call(document.images);
    var result = {
      details: all().length,
      closed_visible: closed.length,
      hidden_before: hidden,
      revealed_by_click: revealed,
      all_open_after_expand: all().every(function (d) { return d.open && shown(kids(d)); }),
      images: images.length,
      broken_images: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
        .map(function (i) { return i.title; }),
      errors: errors
    };
    document.getElementById("selftest").textContent = JSON.stringify(result);
  });
})();
