// Loaded before the dashboard's modules, as a classic script. An ES module graph
// fails as a whole when one file of it does not load (the network changed, the
// server restarted mid-load), and the page would stay empty. So: on a script that
// fails to load, or no dashboard 3 s after the page loaded, reload the page, at most
// three times a minute; then say what happened instead of showing nothing.
(function () {
  var KEY = 'slipway.bootRetries';
  var handled = false;
  function retries() {
    try {
      var v = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      if (v && Date.now() - v.since < 60000) return v;
    } catch (e) { /* no storage: count from zero */ }
    return { since: Date.now(), n: 0 };
  }
  function giveUp() {
    var app = document.getElementById('app');
    if (app) app.textContent = 'The dashboard could not load its scripts from the slipway server (tried 3 times). Check that the server is running and reachable, then reload the page.';
  }
  function failed() {
    if (handled || window.slipwayBooted) return;
    handled = true;
    var r = retries();
    if (r.n >= 3) return giveUp();
    r.n++;
    try { sessionStorage.setItem(KEY, JSON.stringify(r)); } catch (e) { /* reload anyway */ }
    setTimeout(function () { location.reload(); }, 500 * r.n);
  }
  addEventListener('error', function (e) {
    var t = e.target;
    if (t && (t.tagName === 'SCRIPT' || t.tagName === 'LINK')) failed();
  }, true);
  addEventListener('load', function () {
    setTimeout(function () { if (!window.slipwayBooted) failed(); }, 3000);
  });
})();
