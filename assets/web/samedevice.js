// Assent hosted pages: same-device sign-in. The page hands the server's
// challenge to the Assent app on this computer, which listens on loopback
// on one of a fixed range of ports, and posts the app's proof back. Where
// no app answers, it sends a push instead at once (or, with no push to
// send, leaves the other choices on the page).
(function () {
  'use strict';
  var el = document.getElementById('samedevice-status');
  if (!el || !window.fetch) {
    return;
  }
  var challenge = el.getAttribute('data-samedevice');
  var ports = (el.getAttribute('data-ports') || '').split(',').filter(Boolean);
  var done = false;
  var declined = false;
  var waiting = 0;

  function say(text, outcome) {
    el.textContent = text;
    if (outcome) {
      el.setAttribute('data-outcome', outcome);
    }
    var dots = document.querySelector('.waiting');
    if (dots && (outcome === 'declined' || outcome === 'none')) {
      dots.hidden = true;
    }
  }

  function finish(proof) {
    if (done) {
      return;
    }
    done = true;
    document.getElementById('samedevice-proof').value = proof;
    say('Confirmed in the Assent app. Signing you in…', 'approved');
    document.getElementById('samedevice-form').submit();
  }

  function fallBack() {
    if (done) {
      return;
    }
    done = true;
    if (declined) {
      say('The request was declined in the Assent app. Choose another way to sign in.', 'declined');
      return;
    }
    var push = document.getElementById('samedevice-push');
    if (push) {
      say('No Assent app answered on this computer. Sending a push to your device…', 'push');
      push.click();
      return;
    }
    say('No Assent app answered on this computer. Choose another way to sign in.', 'none');
  }

  function ask(port) {
    return window.fetch('http://127.0.0.1:' + port + '/v1/samedevice', {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ challenge: challenge })
    }).then(function (r) {
      return r.json().then(function (a) {
        if (r.ok && a.proof) {
          finish(a.proof);
          return;
        }
        if (a.error === 'declined') {
          declined = true;
        }
      });
    });
  }

  ports.forEach(function (port) {
    waiting++;
    // A port nobody listens on fails at once; the app's own port answers
    // once the person has decided, so only the last answer falls back.
    ask(port).catch(function () {}).then(function () {
      waiting--;
      if (waiting === 0) {
        fallBack();
      }
    });
  });
  say('Confirm the sign-in in the Assent app on this computer…');
}());
