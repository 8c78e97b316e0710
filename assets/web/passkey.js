// Assent hosted pages: passkeys (WebAuthn). A form marked data-passkey
// carries the server's options in data-webauthn (JSON, binary fields in
// base64url, as go-webauthn writes them). The script asks the browser
// (navigator.credentials.get or create) and posts its answer, as JSON with
// base64url fields, in the form's "credential" field. The server checks
// everything; nothing here is trusted.
//
//   data-passkey="signin": the sign-in page. The login field's autofill
//     offers passkeys (conditional mediation); the button asks at once.
//   data-passkey="get": a passkey as the factor of a sign-in.
//   data-passkey="create": making a passkey on the account's behalf.
(function () {
  'use strict';

  // base64url <-> ArrayBuffer.
  function fromB64url(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) {
      s += '=';
    }
    var bin = window.atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    if (!buf) {
      return undefined;
    }
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return window.btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: fromB64url(d.id), transports: d.transports };
    });
  }

  // The options of navigator.credentials.get, from the server's JSON.
  function requestOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.allowCredentials = descriptors(pk.allowCredentials);
    return pk;
  }

  // The options of navigator.credentials.create, from the server's JSON.
  function creationOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
    pk.excludeCredentials = descriptors(pk.excludeCredentials);
    return pk;
  }

  // The browser's answers, as the server reads them.
  function credentialJSON(c) {
    var r = c.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = toB64url(r.userHandle);
    }
    return JSON.stringify({
      id: c.id,
      rawId: toB64url(c.rawId),
      type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: response
    });
  }

  // What went wrong, in the person's words.
  function problem(err, creating) {
    var name = err && err.name;
    if (name === 'InvalidStateError' && creating) {
      return 'This passkey or security key is already on your account. Use another one, or go back.';
    }
    if (name === 'NotAllowedError') {
      return creating ?
        'No passkey was made: it was cancelled or took too long. Try again.' :
        'The passkey was not used: it was cancelled, took too long, or is not one of this account. Try again, or choose another way.';
    }
    if (name === 'SecurityError') {
      return 'This browser refused passkeys for this site. Ask your administrator to check the server address.';
    }
    return 'Something went wrong with the passkey. Try again, or choose another way.';
  }

  function setup(form) {
    var mode = form.getAttribute('data-passkey');
    var field = form.querySelector('input[name="credential"]');
    var button = form.querySelector('.passkey-button');
    var errorEl = form.querySelector('.passkey-error');
    var options;
    try {
      options = JSON.parse(form.getAttribute('data-webauthn'));
    } catch (e) {
      return;
    }
    if (!window.PublicKeyCredential || !navigator.credentials || !options || !options.publicKey) {
      var note = form.querySelector('.passkey-unsupported');
      if (note) {
        note.hidden = false;
      }
      return;
    }
    form.querySelectorAll('[hidden]:not(.passkey-error):not(.passkey-unsupported)').forEach(function (el) {
      el.hidden = false;
    });
    if (button && button.hasAttribute('autofocus')) {
      // Hidden while the page loaded, it could not take the focus then.
      button.focus();
    }

    var busy = false;
    var pending = null; // the conditional request's AbortController

    function say(text) {
      if (errorEl) {
        errorEl.textContent = text;
        errorEl.hidden = false;
        errorEl.setAttribute('tabindex', '-1');
        errorEl.focus();
      }
    }

    function post(c) {
      field.value = credentialJSON(c);
      form.submit();
    }

    // Passkeys in the login field's autofill: the request waits until the
    // person picks one there, or the page leaves.
    function conditional() {
      if (typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function') {
        return;
      }
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok || busy) {
          return;
        }
        pending = new AbortController();
        return navigator.credentials.get({
          mediation: 'conditional',
          publicKey: requestOptions(options),
          signal: pending.signal
        }).then(function (c) {
          pending = null;
          if (c) {
            busy = true;
            post(c);
          }
        });
      }).catch(function () {
        // Given way to the button, or nothing picked: the form stays.
        pending = null;
      });
    }

    function ask() {
      if (busy) {
        return;
      }
      busy = true;
      if (errorEl) {
        errorEl.hidden = true;
      }
      if (pending) {
        // One WebAuthn request at a time: the autofill's gives way.
        pending.abort();
        pending = null;
      }
      var call = mode === 'create' ?
        navigator.credentials.create({ publicKey: creationOptions(options) }) :
        navigator.credentials.get({ publicKey: requestOptions(options) });
      call.then(function (c) {
        if (!c) {
          throw new Error('no credential');
        }
        post(c);
      }).catch(function (err) {
        busy = false;
        say(problem(err, mode === 'create'));
        if (mode === 'signin') {
          conditional();
        }
      });
    }

    form.addEventListener('submit', function (ev) {
      if (!field.value) {
        ev.preventDefault();
        ask();
      }
    });
    if (mode === 'signin') {
      conditional();
    }
  }

  document.querySelectorAll('form[data-passkey]').forEach(setup);
}());
