// Reloads the page every 30 seconds while nobody is typing in it; the page works without this.
// The reload carries auto=1, so that an unattended page still reaches Foreman's idle_timeout.
(function () {
  var box = document.getElementById('auto-refresh');
  if (!box) { return; }
  box.hidden = false;
  setInterval(function () {
    var input = document.getElementById('auto-refresh-on');
    var typing = document.activeElement && document.activeElement.tagName === 'INPUT' &&
      document.activeElement.type !== 'checkbox';
    if (input && input.checked && !typing) {
      // Marked as the page's own reload, which does not keep the session alive.
      var url = new URL(window.location.href);
      url.searchParams.set('auto', '1');
      window.location.replace(url.toString());
    }
  }, 30000);
})();
