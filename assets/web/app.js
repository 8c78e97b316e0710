// Assent hosted pages: the live update of the waiting pages. Without this
// script the pages still work: "Check now" and a refresh do the same.
(function () {
  'use strict';
  document.documentElement.classList.add('js');
  var el = document.querySelector('[data-poll]');
  if (!el) {
    return;
  }
  var url = el.getAttribute('data-poll');
  var csrf = el.getAttribute('data-csrf');
  var stopped = false;
  var failures = 0;

  // A form sent from the page moves the sign-in on; stop asking.
  document.addEventListener('submit', function () { stopped = true; });

  function schedule(ms) {
    if (!stopped) {
      window.setTimeout(tick, ms);
    }
  }

  function tick() {
    if (stopped) {
      return;
    }
    window.fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {
        'Accept': 'application/json',
        'Content-Type': 'application/x-www-form-urlencoded',
        'X-CSRF-Token': csrf
      },
      body: 'csrf=' + encodeURIComponent(csrf)
    }).then(function (r) {
      if (!r.ok) {
        throw new Error('HTTP ' + r.status);
      }
      return r.json();
    }).then(function (a) {
      failures = 0;
      if (a.status === 'done') {
        stopped = true;
        window.location.assign(a.redirect || '/signin/step');
        return;
      }
      schedule(1000);
    }).catch(function () {
      failures++;
      if (failures === 3) {
        el.textContent = 'Having trouble reaching the server. Still trying…';
      }
      schedule(Math.min(10000, 1000 * Math.pow(2, failures)));
    });
  }

  schedule(1000);
}());
