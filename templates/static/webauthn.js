// Security keys and passkeys for Gatehouse's pages. No framework: every
// button with data-webauthn runs one ceremony. It POSTs JSON to its
// data-begin URL (CSRF token in X-CSRF-Token), passes the options to
// navigator.credentials.create or .get, POSTs the result to data-finish and
// follows the redirect the server answers. Errors go to the nearest
// [data-webauthn-error]. The pages work without this file; only these
// buttons need it.
//
// Conditional UI (passkey autofill): on the sign-in page, whose email field
// has autocomplete="username webauthn", a passkey ceremony starts as the
// page opens with mediation 'conditional' where the browser supports it;
// the browser offers the passkeys among the field's suggestions, and
// choosing one finishes through the passkey button's endpoints.
(function () {
  'use strict';

  // The messages this file writes itself, in the page's language (<html
  // lang>); the server's messages arrive translated.
  var messages = {
    ru: {
      'The server answered %d.': 'Сервер ответил %d.',
      'No security key or passkey was used.': 'Ключ безопасности или ключ доступа не был использован.',
      'This browser does not support security keys or passkeys.': 'Этот браузер не поддерживает ключи безопасности и ключи доступа.',
      'The security key or passkey was not used, or the request timed out. Try again.': 'Ключ безопасности или ключ доступа не был использован, или время запроса истекло. Попробуйте ещё раз.',
      'Something went wrong. Try again.': 'Что-то пошло не так. Попробуйте ещё раз.'
    }
  };

  function t(s) {
    var table = messages[document.documentElement.lang];
    return (table && table[s]) || s;
  }

  function toBuffer(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buf) {
    var bytes = new Uint8Array(buf), bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  async function post(url, csrf, body) {
    var resp = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body)
    });
    var data = {};
    try { data = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) {
      var err = new Error(data.error || t('The server answered %d.').replace('%d', resp.status));
      err.redirect = data.redirect;
      throw err;
    }
    return data;
  }

  // The creation or request options, with their binary members decoded.
  function decodeOptions(pk) {
    pk.challenge = toBuffer(pk.challenge);
    if (pk.user) pk.user.id = toBuffer(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return pk;
  }

  // The credential as JSON (the W3C "JSON type"), encoded by hand so that
  // browsers without PublicKeyCredential.toJSON work too. No extension
  // outputs are sent: Gatehouse asks for none.
  function encodeCredential(cred) {
    var r = cred.response, out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) out.response.userHandle = toBase64url(r.userHandle);
    }
    return out;
  }

  function errorBox(button) {
    var scope = button.closest('section, form, main') || document;
    return scope.querySelector('[data-webauthn-error]') || document.querySelector('[data-webauthn-error]');
  }

  function show(button, message) {
    var box = errorBox(button);
    if (!box) { alert(message); return; }
    box.textContent = message;
    box.hidden = false;
  }

  // run runs the ceremony of button. With signal, it is the conditional
  // one of a passkey button.
  async function run(button, signal) {
    var d = button.dataset, body = {};
    if (d.authRequestId) body.authRequestID = d.authRequestId;
    if (d.key) body.key = d.key;
    if (d.name) body.name = (document.getElementById(d.name) || {}).value || '';
    var begun = await post(d.begin, d.csrf, body);
    var pk = decodeOptions(begun.publicKey), cred;
    if (d.webauthn === 'register') {
      cred = await navigator.credentials.create({ publicKey: pk });
    } else if (signal) {
      cred = await navigator.credentials.get({ publicKey: pk, mediation: 'conditional', signal: signal });
    } else {
      cred = await navigator.credentials.get({ publicKey: pk });
    }
    if (!cred) throw new Error(t('No security key or passkey was used.'));
    body.ceremony = begun.ceremony;
    body.credential = encodeCredential(cred);
    var done = await post(d.finish, d.csrf, body);
    window.location.assign(done.redirect || window.location.href);
  }

  // The pending conditional request, aborted when the button is used (a
  // browser runs one request at a time) and renewed before the server
  // forgets its challenge (5 minutes).
  var conditional = null;
  var renewAfter = 4 * 60 * 1000;

  async function startConditional(button) {
    if (!document.querySelector('input[autocomplete~="webauthn"]')) return;
    if (!PublicKeyCredential.isConditionalMediationAvailable) return;
    try {
      if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    } catch (e) {
      return;
    }
    var ctl = new AbortController();
    conditional = ctl;
    var timer = setTimeout(function () { ctl.abort('renew'); }, renewAfter);
    try {
      await run(button, ctl.signal);
    } catch (e) {
      if (e && e.redirect) { window.location.assign(e.redirect); return; }
      if (ctl.signal.aborted) {
        if (ctl.signal.reason === 'renew') startConditional(button);
        return;
      }
      // The server refused the passkey, or the sign-in (blocked,
      // expired): the same message as the button's.
      if (e && e.name !== 'NotAllowedError' && e.message) show(button, e.message);
    } finally {
      clearTimeout(timer);
      if (conditional === ctl) conditional = null;
    }
  }

  function bind(button) {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      button.disabled = true;
      show(button, t('This browser does not support security keys or passkeys.'));
      return;
    }
    button.addEventListener('click', async function () {
      var box = errorBox(button);
      if (box) box.hidden = true;
      if (conditional) conditional.abort('button');
      button.disabled = true;
      try {
        await run(button);
      } catch (e) {
        if (e && e.redirect) { window.location.assign(e.redirect); return; }
        var msg = e && e.name === 'NotAllowedError'
          ? t('The security key or passkey was not used, or the request timed out. Try again.')
          : (e && e.message) || t('Something went wrong. Try again.');
        show(button, msg);
      } finally {
        button.disabled = false;
      }
    });
  }

  function init() {
    document.querySelectorAll('button[data-webauthn]').forEach(function (b) {
      if (b.dataset.bound) return;
      b.dataset.bound = '1';
      bind(b);
    });
    document.querySelectorAll('form[data-webauthn-form]').forEach(function (f) {
      f.addEventListener('submit', function (e) { e.preventDefault(); });
    });
    var passkey = document.querySelector('button[data-webauthn="passkey"]');
    if (passkey && !conditional && window.PublicKeyCredential && navigator.credentials) startConditional(passkey);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
