// The claim page's one action: claim the box as the signed-in user. Its
// text comes from the page (the server wrote it in the reader's language);
// nothing from the API is written as HTML.
(function () {
  'use strict';
  var form = document.getElementById('claim-form');
  if (!form) {
    return;
  }
  var result = document.getElementById('result');
  var button = document.getElementById('confirm');
  var d = form.dataset;
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    button.disabled = true;
    result.textContent = d.busy;
    fetch('/api/claims', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ deviceId: d.device, claimCode: d.code })
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        var msg;
        if (res.status === 201) {
          msg = d.done;
        } else if (res.status === 200) {
          msg = d.already;
        } else if (res.status === 401) {
          msg = d.signin;
        } else if (res.status === 409) {
          msg = d.claimed;
        } else if (res.status === 403 && body.code === 'wrong_claim_code') {
          msg = d.wrong;
        } else if (res.status === 429) {
          msg = d.rate;
        } else {
          msg = d.failed + ' ' + (body.error || res.status);
        }
        result.textContent = msg;
        result.dataset.status = String(res.status);
        button.disabled = res.status === 200 || res.status === 201;
      });
    }).catch(function (err) {
      result.textContent = d.failed + ' ' + err;
      button.disabled = false;
    });
  });
})();
