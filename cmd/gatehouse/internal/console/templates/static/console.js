// The admin console's one enhancement: a Copy button next to a secret
// shown once (button[data-copy] names the field). Without this file the
// button stays hidden and the field can be copied by hand.
(function () {
  'use strict';
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    var field = document.getElementById(button.getAttribute('data-copy'));
    if (!field || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(field.value).then(function () {
        var note = button.parentNode.querySelector('[data-copied]');
        if (note) {
          note.hidden = false;
        }
      });
    });
  });
})();
