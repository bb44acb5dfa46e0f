// The "Check it yourself" section of the subject access page: reads the embedded bundle and
// key, shows the key fingerprint, runs withusVerifyBundle (verify.js) on load and when the
// person presses "Check my record", and says the outcome in the live region.
//
// Owns: the section's behaviour. Must not touch: anything outside the section's elements, the
// network. Writes only with textContent (never innerHTML): what it shows comes from the bundle.
(function () {
  'use strict';

  // The section's elements by id, only when exactly one element has it: the record's sections
  // come first in the page, and an element there with the same id must not stand in for the
  // bundle, the key or the result.
  function byId(id) {
    var all = document.querySelectorAll('[id="' + id + '"]');
    return all.length === 1 ? all[0] : null;
  }

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  // One sentence, starting with "Verified", of what passing §7.1–7.8 proves for this bundle.
  function provedSentence(p) {
    var parts = [];
    if (p.entries === 0) {
      parts.push('the organisation\'s signed log (' + p.origin + ', ' + plural(p.treeSize, 'entry', 'entries') +
        ') states that it holds no entries about you, and this file shows none');
    } else {
      var how = p.withheld > 0
        ? ' (' + p.shown + ' shown, ' + p.withheld + ' withheld and counted)'
        : '';
      parts.push('all ' + plural(p.entries, 'entry', 'entries') + ' about you' + how +
        ' are in the organisation\'s signed log (' + p.origin + ', ' + plural(p.treeSize, 'entry', 'entries') +
        '), byte for byte as first recorded');
      parts.push('your record runs unbroken from your first entry to entry ' + p.lastSeq +
        ', the last one the log signed for');
    }
    parts.push(plural(p.texts, 'text is', 'texts are') + ' exactly as recorded');
    parts.push(plural(p.actors, 'person named is', 'people named are') + ' registered in the log');
    return 'Verified: ' + parts.join('; ') + '.';
  }

  function failureSentence(r) {
    var where = r.seq === null || r.seq === undefined ? '' : ' at entry ' + r.seq;
    return 'Not verified: ' + r.check + where + ': ' + r.message;
  }

  // Only what the check proved (the bundle's sar_id, produced_at and about are not signed, so
  // they are not listed here); the bundle hash is what the log's sar.fulfilled entry records.
  function showDetails(p) {
    var list = byId('check-details');
    while (list.firstChild) list.removeChild(list.firstChild);
    var rows = [
      ['Record of', p.subject],
      ['Log', p.origin + ', signed at ' + plural(p.treeSize, 'entry', 'entries')],
      ['Entries about you', p.entries + ' (' + p.shown + ' shown, ' + p.withheld + ' withheld)'],
      ['Bundle hash', p.bundleHash],
    ];
    for (var k = 0; k < rows.length; k++) {
      var dt = document.createElement('dt');
      dt.textContent = rows[k][0];
      var dd = document.createElement('dd');
      dd.textContent = rows[k][1];
      list.appendChild(dt);
      list.appendChild(dd);
    }
    list.hidden = false;
  }

  function check() {
    var status = byId('check-status');
    var bundle = byId('bundle');
    var vkey = byId('vkey');
    var result;
    if (!bundle || bundle.type !== 'application/json' || !vkey || typeof window.withusVerifyBundle !== 'function') {
      result = { ok: false, check: 'page', seq: null, message: 'the bundle, the key or the checker in this page is missing or appears twice' };
    } else {
      result = window.withusVerifyBundle(bundle.textContent, vkey.textContent);
    }
    byId('check-details').hidden = true;
    if (result.ok) {
      status.textContent = provedSentence(result.proved);
      status.setAttribute('data-result', 'verified');
      showDetails(result.proved);
    } else {
      status.textContent = failureSentence(result);
      status.setAttribute('data-result', 'not-verified');
    }
  }

  function start() {
    var ids = ['check-status', 'check-details', 'check-button', 'key-fingerprint'];
    for (var k = 0; k < ids.length; k++) {
      if (!byId(ids[k])) {
        // Nowhere safe to write: say it in the first status element there is, never "Verified".
        var any = document.getElementById('check-status');
        if (any) {
          any.textContent = 'Not verified: page: the element ' + ids[k] + ' of this page is missing or appears twice';
          any.setAttribute('data-result', 'not-verified');
        }
        return;
      }
    }
    var fp = byId('key-fingerprint');
    var vkey = byId('vkey');
    var shown = vkey && typeof window.withusKeyFingerprint === 'function'
      ? window.withusKeyFingerprint(vkey.textContent)
      : null;
    fp.textContent = shown === null ? 'none: the key in this file is not usable' : shown;

    var button = byId('check-button');
    var status = byId('check-status');
    button.hidden = false;
    button.addEventListener('click', function () {
      status.textContent = 'Checking\u2026';
      status.removeAttribute('data-result');
      // Let the live region say "Checking…" before the work starts.
      setTimeout(check, 50);
    });
    status.textContent = 'Checking\u2026';
    setTimeout(check, 0);
  }

  start();
})();
