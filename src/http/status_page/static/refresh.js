// Reloads the page every 30 seconds while nobody is typing in it; the page works without this.
(function () {
  var box = document.getElementById('auto-refresh');
  if (!box) { return; }
  box.hidden = false;
  setInterval(function () {
    var input = document.getElementById('auto-refresh-on');
    var typing = document.activeElement && document.activeElement.tagName === 'INPUT' &&
      document.activeElement.type !== 'checkbox';
    if (input && input.checked && !typing) { window.location.reload(); }
  }, 30000);
})();
