// Small enhancements of Gatehouse's pages, which work without this file.
//
// Countdowns: an element with data-countdown="N" shows N seconds as m:ss,
// as the server rendered it; this file ticks it down once a second. When it
// reaches 0, the nearest element with data-expired gets that text (the
// code is gone), and a button whose data-wait counts down with it (Resend
// during its cooldown) is enabled and its note removed. The ticking is not
// announced to screen readers; only those changes of state are, through
// the page's status region.
//
// Copy buttons: a hidden button with data-copy-for="ID" is shown and copies
// the data-copy value of element ID (or its value) to the clipboard; its
// data-copied text is announced once it did.
(function () {
  'use strict';

  function format(s) {
    var m = Math.floor(s / 60), r = s % 60;
    return m + ':' + (r < 10 ? '0' : '') + r;
  }

  // region is a polite live region, added empty as the page opens so that
  // screen readers watch it; announce puts a state change (not every tick)
  // in it.
  var region = document.createElement('p');
  region.id = 'page-status';
  region.className = 'visually-hidden';
  region.setAttribute('role', 'status');
  document.querySelector('main').appendChild(region);

  function announce(text) {
    region.textContent = text;
  }

  function finish(el) {
    var expired = el.closest('[data-expired]');
    if (expired) {
      expired.textContent = expired.getAttribute('data-expired');
      announce(expired.textContent);
    }
    var form = el.closest('form');
    var button = form && form.querySelector('button[data-wait]');
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-describedby');
      var note = document.getElementById('resend-wait');
      if (note) note.remove();
    }
  }

  function startCountdowns() {
    var items = Array.prototype.map.call(document.querySelectorAll('[data-countdown]'), function (el) {
      return { el: el, end: Date.now() + 1000 * parseInt(el.getAttribute('data-countdown'), 10) };
    });
    if (!items.length) return;
    var timer = setInterval(function () {
      var now = Date.now();
      items = items.filter(function (it) {
        var left = Math.max(0, Math.ceil((it.end - now) / 1000));
        it.el.textContent = format(left);
        if (left > 0) return true;
        finish(it.el);
        return false;
      });
      if (!items.length) clearInterval(timer);
    }, 1000);
  }

  function fallbackCopy(source) {
    if (!source.select) return false;
    source.select();
    return document.execCommand('copy');
  }

  function startCopyButtons() {
    document.querySelectorAll('button[data-copy-for]').forEach(function (button) {
      var source = document.getElementById(button.getAttribute('data-copy-for'));
      if (!source) return;
      var text = source.getAttribute('data-copy') || source.value || source.textContent;
      button.hidden = false;
      button.addEventListener('click', function () {
        var done = function () { announce(button.getAttribute('data-copied')); };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () {
            if (fallbackCopy(source)) done();
          });
        } else if (fallbackCopy(source)) {
          done();
        }
      });
    });
  }

  startCountdowns();
  startCopyButtons();
})();
