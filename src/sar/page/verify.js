// withus subject access bundle verifier, in the browser (plain ES2017, a classic script, no
// modules). An independent verifier written from ../shared/spec/sar-bundle.md §7 and
// log-format.md alone: it shares no code with the Rust side, so the two can disagree and a test
// can see it.
//
// Owns: every check of sar-bundle.md §7.1–7.8 on a bundle's JSON text and a vkey, and the key
// fingerprint the page shows. Must not touch: the DOM, the network, storage (page.js does the
// page; this file only computes). Its only dependency is window.withusNoble (noble.js: BLAKE3,
// SHA-256, Ed25519).
//
//   withusVerifyBundle(bundleJsonText, vkeyString)
//     -> { ok: true, proved: {...} }
//      | { ok: false, check: "7.N name", seq: <number or null>, message: "<plain words>" }
//   withusKeyFingerprint(vkeyString) -> "xxxx xxxx xxxx xxxx xxxx xxxx" or null
//
// It never throws: any input, however malformed, gives one of the two answers.
(function () {
  'use strict';

  var noble = window.withusNoble;

  var CHECK = {
    shape: '7.1 shape',
    checkpoint: '7.2 checkpoint',
    head: '7.3 head',
    entries: '7.4 entries',
    chain: '7.5 chain',
    actors: '7.6 actors',
    content: '7.7 content',
    bundleHash: '7.8 bundle hash',
  };

  // A failed check: thrown inside, turned into the { ok: false } answer at the top.
  function Failure(check, seq, message) {
    this.check = check;
    this.seq = seq === undefined ? null : seq;
    this.message = message;
  }

  function fail(check, seq, message) {
    throw new Failure(check, seq, message);
  }

  // ---------------------------------------------------------------------------------------------
  // Strict JSON (RFC 8259). JSON.parse keeps the last of two equal keys and turns large integers
  // into floats, so a bundle with `"entries"` twice could show one list and have another checked.
  // This parser refuses duplicate keys, lone surrogates and nesting deeper than 128, keeps
  // integers exact (JsonNumber holds the literal), and makes objects without a prototype.

  function JsonNumber(text) {
    this.text = text;
  }

  function JsonError(message) {
    this.message = message;
  }

  var MAX_DEPTH = 128;

  function parseJsonStrict(text) {
    var i = 0;
    var n = text.length;

    function error(what) {
      throw new JsonError(what + ' at character ' + i);
    }

    function skipWhitespace() {
      while (i < n) {
        var c = text.charCodeAt(i);
        if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
          i++;
        } else {
          break;
        }
      }
    }

    function parseString() {
      // text[i] is the opening quote.
      i++;
      var out = '';
      var start = i;
      while (true) {
        if (i >= n) error('unterminated string');
        var c = text.charCodeAt(i);
        if (c === 0x22) {
          out += text.slice(start, i);
          i++;
          break;
        }
        if (c < 0x20) error('control character in a string');
        if (c === 0x5c) {
          out += text.slice(start, i);
          i++;
          if (i >= n) error('unterminated escape');
          var e = text[i];
          i++;
          if (e === '"') out += '"';
          else if (e === '\\') out += '\\';
          else if (e === '/') out += '/';
          else if (e === 'b') out += '\b';
          else if (e === 'f') out += '\f';
          else if (e === 'n') out += '\n';
          else if (e === 'r') out += '\r';
          else if (e === 't') out += '\t';
          else if (e === 'u') {
            var hex = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) error('bad \\u escape');
            out += String.fromCharCode(parseInt(hex, 16));
            i += 4;
          } else {
            error('bad escape');
          }
          start = i;
        } else {
          i++;
        }
      }
      if (!isWellFormedUtf16(out)) error('lone surrogate in a string');
      return out;
    }

    function parseNumber() {
      var m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
      if (!m || m[0].length === 0 || m[0].length >= 400) error('bad number');
      i += m[0].length;
      return new JsonNumber(m[0]);
    }

    function parseValue(depth) {
      if (depth > MAX_DEPTH) error('nested too deeply');
      skipWhitespace();
      if (i >= n) error('unexpected end');
      var c = text[i];
      if (c === '{') {
        i++;
        var obj = Object.create(null);
        skipWhitespace();
        if (text[i] === '}') {
          i++;
          return obj;
        }
        while (true) {
          skipWhitespace();
          if (text[i] !== '"') error('expected a key');
          var key = parseString();
          if (Object.prototype.hasOwnProperty.call(obj, key)) {
            error('the key "' + key.slice(0, 40) + '" appears twice');
          }
          skipWhitespace();
          if (text[i] !== ':') error('expected ":"');
          i++;
          obj[key] = parseValue(depth + 1);
          skipWhitespace();
          if (text[i] === ',') {
            i++;
          } else if (text[i] === '}') {
            i++;
            return obj;
          } else {
            error('expected "," or "}"');
          }
        }
      }
      if (c === '[') {
        i++;
        var arr = [];
        skipWhitespace();
        if (text[i] === ']') {
          i++;
          return arr;
        }
        while (true) {
          arr.push(parseValue(depth + 1));
          skipWhitespace();
          if (text[i] === ',') {
            i++;
          } else if (text[i] === ']') {
            i++;
            return arr;
          } else {
            error('expected "," or "]"');
          }
        }
      }
      if (c === '"') return parseString();
      if (text.startsWith('true', i)) {
        i += 4;
        return true;
      }
      if (text.startsWith('false', i)) {
        i += 5;
        return false;
      }
      if (text.startsWith('null', i)) {
        i += 4;
        return null;
      }
      if (c === '-' || (c >= '0' && c <= '9')) return parseNumber();
      error('unexpected character');
    }

    var value = parseValue(0);
    skipWhitespace();
    if (i !== n) error('text after the JSON value');
    return value;
  }

  function isWellFormedUtf16(s) {
    for (var k = 0; k < s.length; k++) {
      var c = s.charCodeAt(k);
      if (c >= 0xd800 && c <= 0xdbff) {
        var d = s.charCodeAt(k + 1);
        if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
        k++;
      } else if (c >= 0xdc00 && c <= 0xdfff) {
        return false;
      }
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Value helpers over what parseJsonStrict returns.

  function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonNumber);
  }

  function keysOf(obj) {
    return Object.keys(obj);
  }

  // Exactly these keys, no more, no fewer; the answer names what differs.
  function exactKeys(obj, want) {
    var have = keysOf(obj);
    for (var k = 0; k < want.length; k++) {
      if (!Object.prototype.hasOwnProperty.call(obj, want[k])) return 'field "' + want[k] + '" is missing';
    }
    for (var j = 0; j < have.length; j++) {
      if (want.indexOf(have[j]) < 0) return 'it has a field "' + have[j].slice(0, 40) + '" that is not allowed';
    }
    return null;
  }

  // A non-negative integer written as one (no fraction, no exponent), exactly representable.
  function asCount(v) {
    if (!(v instanceof JsonNumber) || !/^(0|[1-9][0-9]*)$/.test(v.text)) return null;
    var x = Number(v.text);
    return Number.isSafeInteger(x) ? x : null;
  }

  function isHex64(s) {
    return typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
  }

  function isTimestamp(s) {
    return typeof s === 'string' && /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/.test(s);
  }

  // ---------------------------------------------------------------------------------------------
  // Bytes: UTF-8, hex, base64 (RFC 4648 §4, padded, canonical).

  var utf8 = new TextEncoder();

  function bytesOf(s) {
    return utf8.encode(s);
  }

  function concat(parts) {
    var len = 0;
    for (var k = 0; k < parts.length; k++) len += parts[k].length;
    var out = new Uint8Array(len);
    var at = 0;
    for (var j = 0; j < parts.length; j++) {
      out.set(parts[j], at);
      at += parts[j].length;
    }
    return out;
  }

  function toHex(b) {
    var s = '';
    for (var k = 0; k < b.length; k++) s += (b[k] < 16 ? '0' : '') + b[k].toString(16);
    return s;
  }

  // Only called on text already checked to be lowercase hex of even length.
  function fromHex(s) {
    var out = new Uint8Array(s.length / 2);
    for (var k = 0; k < out.length; k++) out[k] = (hexDigit(s.charCodeAt(2 * k)) << 4) | hexDigit(s.charCodeAt(2 * k + 1));
    return out;
  }

  function hexDigit(c) {
    return c <= 0x39 ? c - 0x30 : c - 0x57;
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    var d = 0;
    for (var k = 0; k < a.length; k++) d |= a[k] ^ b[k];
    return d === 0;
  }

  var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

  function toBase64(b) {
    var s = '';
    for (var k = 0; k < b.length; k += 3) {
      var x = (b[k] << 16) | ((k + 1 < b.length ? b[k + 1] : 0) << 8) | (k + 2 < b.length ? b[k + 2] : 0);
      s += B64[(x >> 18) & 63] + B64[(x >> 12) & 63];
      s += k + 1 < b.length ? B64[(x >> 6) & 63] : '=';
      s += k + 2 < b.length ? B64[x & 63] : '=';
    }
    return s;
  }

  // Strict: standard alphabet, padding required, unused bits zero. null when it is not.
  function fromBase64(s) {
    if (typeof s !== 'string' || s.length % 4 !== 0) return null;
    if (!/^[A-Za-z0-9+/]*(|=|==)$/.test(s)) return null;
    var b = toBase64Decoded(s);
    if (b === null || toBase64(b) !== s) return null;
    return b;
  }

  function toBase64Decoded(s) {
    var pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
    var out = new Uint8Array((s.length / 4) * 3 - pad);
    var o = 0;
    for (var k = 0; k < s.length; k += 4) {
      var x = 0;
      for (var j = 0; j < 4; j++) {
        var ch = s[k + j];
        var v = ch === '=' ? 0 : B64.indexOf(ch);
        if (v < 0) return null;
        x = (x << 6) | v;
      }
      if (o < out.length) out[o++] = (x >> 16) & 255;
      if (o < out.length) out[o++] = (x >> 8) & 255;
      if (o < out.length) out[o++] = x & 255;
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Hashes (log-format.md §2) and RFC 9162 inclusion proofs (§2.1.3.2).

  function H(bytes) {
    return noble.blake3(bytes);
  }

  function leafHash(entryBytes) {
    return H(concat([new Uint8Array([0]), entryBytes]));
  }

  function nodeHash(left, right) {
    var buf = new Uint8Array(65);
    buf[0] = 1;
    buf.set(left, 1);
    buf.set(right, 33);
    return H(buf);
  }

  // RFC 9162 §2.1.3.2, with arithmetic instead of JavaScript's 32-bit bit operators, so trees
  // past 2^31 entries are handled too.
  function verifyInclusion(leaf, index, size, path, root) {
    if (index >= size) return false;
    var fn = index;
    var sn = size - 1;
    var r = leaf;
    for (var k = 0; k < path.length; k++) {
      var p = path[k];
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equalBytes(r, root);
  }

  // ---------------------------------------------------------------------------------------------
  // Verifier keys and signed notes (log-format.md §3, c2sp.org/signed-note).

  var SIG_PREFIX = '\u2014 ';

  function isKeyName(s) {
    return s.length > 0 && /^[\x21-\x2a\x2c-\x7e]+$/.test(s);
  }

  function keyIdOf(name, publicKey) {
    var d = noble.sha256(concat([bytesOf(name), new Uint8Array([0x0a, 0x01]), publicKey]));
    return d.slice(0, 4);
  }

  // <name>+<hex key id>+<base64(0x01 || 32-byte public key)>; the base64 may itself hold '+'.
  // Returns { name, keyId, publicKey } or a string saying what is wrong.
  function parseVkey(vkey) {
    if (typeof vkey !== 'string') return 'it is not text';
    var v = vkey.trim();
    var a = v.indexOf('+');
    var b = a < 0 ? -1 : v.indexOf('+', a + 1);
    if (a < 0 || b < 0) return 'it is not of the form <name>+<key id>+<key>';
    var name = v.slice(0, a);
    var idHex = v.slice(a + 1, b);
    var blob = fromBase64(v.slice(b + 1));
    if (!isKeyName(name)) return 'its name is not printable text without spaces';
    if (!/^[0-9a-f]{8}$/.test(idHex)) return 'its key id is not 8 hex digits';
    if (blob === null || blob.length !== 33 || blob[0] !== 0x01) return 'its key is not an Ed25519 key';
    var publicKey = blob.slice(1);
    var keyId = keyIdOf(name, publicKey);
    if (toHex(keyId) !== idHex) return 'its key id does not match its name and key';
    return { name: name, keyId: keyId, publicKey: publicKey };
  }

  // The key fingerprint the page shows, for the person to compare with the one the organisation
  // publishes. Defined (and kept stable; crate::sar::page::key_fingerprint gives the same) as:
  // the 4-byte key id (log-format.md §3) followed by the first 8 bytes of SHA-256 of the 32-byte
  // Ed25519 public key, as 24 lowercase hex digits in six groups of four separated by one space,
  // e.g. "daf1 465e 0a1b 2c3d 4e5f 6071". The key id alone is only 32 bits; the second part
  // binds the key itself with 64 more.
  function keyFingerprint(key) {
    var hex = toHex(key.keyId) + toHex(noble.sha256(key.publicKey).slice(0, 8));
    return hex.match(/.{4}/g).join(' ');
  }

  function ed25519Verify(signature, message, publicKey) {
    try {
      // zip215: false is RFC 8032's strict verification, which log-format.md §3 names.
      return noble.ed25519.verify(signature, message, publicKey, { zip215: false }) === true;
    } catch (e) {
      return false;
    }
  }

  // Opens a signed note with the key: every signature line by this key (name and key id) must
  // verify, and there must be one. Returns the body's lines (without their newlines) or a
  // string saying what is wrong.
  function openNote(note, key) {
    if (typeof note !== 'string') return 'it is not text';
    if (note.length > 65536) return 'it is larger than 64 KiB';
    var split = note.lastIndexOf('\n\n');
    if (split < 0) return 'it has no blank line before its signature';
    var body = note.slice(0, split + 1);
    var sigs = note.slice(split + 2);
    if (!sigs.endsWith('\n')) return 'its signature block does not end with a newline';
    var lines = sigs.slice(0, -1).split('\n');
    var found = false;
    for (var k = 0; k < lines.length; k++) {
      var line = lines[k];
      if (!line.startsWith(SIG_PREFIX)) return 'a signature line does not start with "\u2014 "';
      var rest = line.slice(SIG_PREFIX.length);
      var sp = rest.indexOf(' ');
      if (sp < 0) return 'a signature line has no signature';
      var name = rest.slice(0, sp);
      var blob = fromBase64(rest.slice(sp + 1));
      if (blob === null) return 'a signature is not base64';
      if (name !== key.name || blob.length !== 68 || !equalBytes(blob.slice(0, 4), key.keyId)) continue;
      found = true;
      if (!ed25519Verify(blob.slice(4), bytesOf(body), key.publicKey)) {
        return 'its signature by ' + key.name + ' does not match: the text was changed, or another key signed it';
      }
    }
    if (!found) return 'it is not signed by the key ' + key.name;
    return body.slice(0, -1).split('\n');
  }

  function isDecimal(s) {
    return /^(0|[1-9][0-9]*)$/.test(s);
  }

  // ---------------------------------------------------------------------------------------------
  // Entries (log-format.md §1), parsed with exactly their fields.

  var ENTRY_FIELDS = ['seq', 'prev', 'at', 'type', 'v', 'stream', 'version', 'subject', 'subject_prev', 'actor', 'command', 'data'];

  // Returns { seq, subject, subjectPrev (hex or null), actorId, type, data } or a string saying
  // what is wrong.
  function parseEntry(text) {
    if (text.indexOf('\n') >= 0) return 'its bytes contain a newline';
    var e;
    try {
      e = parseJsonStrict(text);
    } catch (err) {
      return 'it is not JSON: ' + (err instanceof JsonError ? err.message : 'unreadable');
    }
    if (!isObject(e)) return 'it is not a JSON object';
    var keys = exactKeys(e, ENTRY_FIELDS);
    if (keys) return keys;
    var seq = asCount(e.seq);
    if (seq === null) return '"seq" is not a whole number';
    if (!isHex64(e.prev)) return '"prev" is not 64 lowercase hex digits';
    if (!isTimestamp(e.at)) return '"at" is not a time of the form YYYY-MM-DDTHH:MM:SS.mmmZ';
    if (typeof e.type !== 'string') return '"type" is not text';
    var v = asCount(e.v);
    if (v === null || v < 1) return '"v" is not a whole number from 1';
    if (typeof e.stream !== 'string') return '"stream" is not text';
    if (asCount(e.version) === null) return '"version" is not a whole number';
    if (e.subject !== null && typeof e.subject !== 'string') return '"subject" is neither text nor null';
    if (e.subject_prev !== null && !isHex64(e.subject_prev)) return '"subject_prev" is neither 64 lowercase hex digits nor null';
    if (e.subject === null && e.subject_prev !== null) return '"subject_prev" is set but "subject" is null';
    if (!isObject(e.actor)) return '"actor" is not an object';
    var actorKeys = exactKeys(e.actor, ['id', 'role']);
    if (actorKeys) return '"actor": ' + actorKeys;
    if (typeof e.actor.id !== 'string' || typeof e.actor.role !== 'string') return '"actor" id or role is not text';
    if (e.command !== null && typeof e.command !== 'string') return '"command" is neither text nor null';
    if (!isObject(e.data)) return '"data" is not an object';
    return { seq: seq, subject: e.subject, subjectPrev: e.subject_prev, actorId: e.actor.id, type: e.type, data: e.data };
  }

  // Every segment (log-format.md §4: {"id": string, "commit": hex, "chars": integer}, exactly
  // those fields) anywhere inside an entry's data, in document order.
  function segmentsIn(value, out) {
    if (Array.isArray(value)) {
      for (var k = 0; k < value.length; k++) segmentsIn(value[k], out);
    } else if (isObject(value)) {
      if (exactKeys(value, ['id', 'commit', 'chars']) === null && typeof value.id === 'string' &&
          isHex64(value.commit) && asCount(value.chars) !== null) {
        out.push({ commit: value.commit, chars: asCount(value.chars) });
        return out;
      }
      var keys = keysOf(value);
      for (var j = 0; j < keys.length; j++) segmentsIn(value[keys[j]], out);
    }
    return out;
  }

  // A bundle item's proof: an array of 64-hex strings, decoded; or null.
  function parseProof(p) {
    if (!Array.isArray(p) || p.length > 64) return null;
    var out = [];
    for (var k = 0; k < p.length; k++) {
      if (!isHex64(p[k])) return null;
      out.push(fromHex(p[k]));
    }
    return out;
  }

  // Unicode scalar values in a (well-formed) string: a surrogate pair is one.
  function scalarCount(s) {
    var count = 0;
    for (var k = 0; k < s.length; k++) {
      var c = s.charCodeAt(k);
      if (c >= 0xd800 && c <= 0xdbff) k++;
      count++;
    }
    return count;
  }

  // ---------------------------------------------------------------------------------------------
  // The checks of sar-bundle.md §7, in its order.

  var BUNDLE_FIELDS = ['format', 'subject', 'sar_id', 'produced_at', 'tree_size', 'checkpoint', 'head', 'entries', 'actors', 'content', 'about'];

  function verify(bundleText, vkeyText) {
    // 7.1 The shape.
    if (typeof bundleText !== 'string') fail(CHECK.shape, null, 'the bundle is not text');
    var b;
    try {
      b = parseJsonStrict(bundleText);
    } catch (err) {
      if (err instanceof JsonError) fail(CHECK.shape, null, 'the bundle is not valid JSON: ' + err.message);
      throw err;
    }
    if (!isObject(b)) fail(CHECK.shape, null, 'the bundle is not a JSON object');
    var keys = exactKeys(b, BUNDLE_FIELDS);
    if (keys) fail(CHECK.shape, null, 'the bundle is not of the expected form: ' + keys);
    if (b.format !== 'withus-sar-v1') fail(CHECK.shape, null, 'the bundle is not of format withus-sar-v1');
    if (typeof b.subject !== 'string' || b.subject.length === 0) fail(CHECK.shape, null, '"subject" is not a person\'s id');
    if (b.sar_id !== null && typeof b.sar_id !== 'string') fail(CHECK.shape, null, '"sar_id" is neither text nor null');
    if (!isTimestamp(b.produced_at)) fail(CHECK.shape, null, '"produced_at" is not a time of the form YYYY-MM-DDTHH:MM:SS.mmmZ');
    var N = asCount(b.tree_size);
    if (N === null) fail(CHECK.shape, null, '"tree_size" is not a whole number');
    if (typeof b.checkpoint !== 'string' || typeof b.head !== 'string') fail(CHECK.shape, null, '"checkpoint" or "head" is not text');
    if (!Array.isArray(b.entries) || !Array.isArray(b.actors) || !Array.isArray(b.content)) {
      fail(CHECK.shape, null, '"entries", "actors" or "content" is not a list');
    }
    if (!isObject(b.about)) fail(CHECK.shape, null, '"about" is not an object');
    var subject = b.subject;

    // 7.2 The checkpoint, with the key the person trusts.
    var key = parseVkey(vkeyText);
    if (typeof key === 'string') fail(CHECK.checkpoint, null, 'the organisation\'s key (vkey) is not usable: ' + key);
    var cp = openNote(b.checkpoint, key);
    if (typeof cp === 'string') fail(CHECK.checkpoint, null, 'the checkpoint does not verify: ' + cp);
    if (cp.length !== 3) fail(CHECK.checkpoint, null, 'the checkpoint does not have exactly three lines');
    var origin = cp[0];
    if (origin !== key.name) fail(CHECK.checkpoint, null, 'the checkpoint\'s origin is not the key\'s name');
    if (!isDecimal(cp[1])) fail(CHECK.checkpoint, null, 'the checkpoint\'s size is not a number');
    if (cp[1] !== String(N)) fail(CHECK.checkpoint, null, 'the checkpoint is for ' + cp[1] + ' entries but the bundle says ' + N);
    var root = fromBase64(cp[2]);
    if (root === null || root.length !== 32) fail(CHECK.checkpoint, null, 'the checkpoint\'s root is not a base64 hash');

    // Each item's form and leaf hash, which 7.3 needs for the last item. A shown item's leaf is
    // computed from its bytes, so a changed byte shows as a different leaf everywhere.
    var items = [];
    for (var k = 0; k < b.entries.length; k++) {
      var it = b.entries[k];
      var itSeq = isObject(it) ? asCount(it.seq) : null;
      if (!isObject(it) || itSeq === null) fail(CHECK.entries, null, 'item ' + (k + 1) + ' of "entries" has no seq');
      var withheld = Object.prototype.hasOwnProperty.call(it, 'withheld');
      var form = exactKeys(it, withheld ? ['seq', 'leaf', 'proof', 'withheld'] : ['seq', 'entry', 'proof']);
      if (form) fail(CHECK.entries, itSeq, 'the item is not of the expected form: ' + form);
      var proof = parseProof(it.proof);
      if (proof === null) fail(CHECK.entries, itSeq, 'its proof is not a list of hex hashes');
      if (withheld) {
        if (it.withheld !== true) fail(CHECK.entries, itSeq, '"withheld" is not true');
        if (!isHex64(it.leaf)) fail(CHECK.entries, itSeq, 'its leaf is not 64 lowercase hex digits');
        items.push({ seq: itSeq, leaf: fromHex(it.leaf), proof: proof, text: null });
      } else {
        if (typeof it.entry !== 'string') fail(CHECK.entries, itSeq, 'its entry is not text');
        items.push({ seq: itSeq, leaf: leafHash(bytesOf(it.entry)), proof: proof, text: it.entry });
      }
    }

    // 7.3 The subject-head statement.
    var head = openNote(b.head, key);
    if (typeof head === 'string') fail(CHECK.head, null, 'the statement of your last entry does not verify: ' + head);
    if (head.length !== 6) fail(CHECK.head, null, 'the statement of your last entry does not have exactly six lines');
    if (head[0] !== origin + '/subject-head') fail(CHECK.head, null, 'the statement is not a subject-head statement of this log');
    if (head[1] !== subject) fail(CHECK.head, null, 'the statement is about someone else');
    if (head[2] !== String(N)) fail(CHECK.head, null, 'the statement is for a log of ' + head[2].slice(0, 20) + ' entries, the bundle for ' + N);
    if (head[3] !== String(items.length)) {
      fail(CHECK.head, null, 'the statement counts ' + head[3].slice(0, 20) + ' entries about you but the bundle has ' + items.length);
    }
    var last = items.length > 0 ? items[items.length - 1] : null;
    var wantSeq = last ? String(last.seq) : '-';
    var wantLeaf = last ? toBase64(last.leaf) : '-';
    if (head[4] !== wantSeq) fail(CHECK.head, last ? last.seq : null, 'the statement names a different last entry');
    if (head[5] !== wantLeaf) fail(CHECK.head, last ? last.seq : null, 'the statement\'s hash of your last entry does not match it');

    // 7.4 Every entry: its bytes, its place, its proof.
    var shownEntries = [];
    var actorIdsShown = Object.create(null);
    var segmentsByCommit = Object.create(null);
    var previousSeq = -1;
    for (var e = 0; e < items.length; e++) {
      var item = items[e];
      if (item.seq >= N) fail(CHECK.entries, item.seq, 'the entry is not among the ' + N + ' entries the checkpoint covers');
      if (item.seq <= previousSeq) fail(CHECK.entries, item.seq, 'the entries are not in increasing order');
      previousSeq = item.seq;
      if (item.text !== null) {
        var entry = parseEntry(item.text);
        if (typeof entry === 'string') fail(CHECK.entries, item.seq, 'the entry is not a log entry: ' + entry);
        if (entry.seq !== item.seq) fail(CHECK.entries, item.seq, 'the entry says it is entry ' + entry.seq);
        if (entry.subject !== subject) fail(CHECK.entries, item.seq, 'the entry is not about you');
        item.entry = entry;
        shownEntries.push(entry);
        actorIdsShown[entry.actorId] = true;
        addSegments(segmentsByCommit, entry);
      }
      if (!verifyInclusion(item.leaf, item.seq, N, item.proof, root)) {
        fail(CHECK.entries, item.seq, 'its proof does not show it in the signed log: the entry or its proof was changed');
      }
    }

    // 7.5 The person's chain, unbroken.
    for (var c = 0; c < items.length; c++) {
      var here = items[c];
      if (!here.entry) continue;
      if (c === 0) {
        if (here.entry.subjectPrev !== null) fail(CHECK.chain, here.seq, 'your first entry points back to an earlier one that is not in the bundle');
      } else if (here.entry.subjectPrev !== toHex(items[c - 1].leaf)) {
        fail(CHECK.chain, here.seq, 'the entry does not point back to the entry before it: one is missing or changed');
      }
    }

    // 7.6 The actors named.
    var actorsSeen = Object.create(null);
    for (var a = 0; a < b.actors.length; a++) {
      var ai = b.actors[a];
      var aSeq = isObject(ai) ? asCount(ai.seq) : null;
      if (!isObject(ai) || aSeq === null) fail(CHECK.actors, null, 'item ' + (a + 1) + ' of "actors" has no seq');
      var aForm = exactKeys(ai, ['seq', 'entry', 'proof']);
      if (aForm) fail(CHECK.actors, aSeq, 'the item is not of the expected form: ' + aForm);
      var aProof = parseProof(ai.proof);
      if (aProof === null) fail(CHECK.actors, aSeq, 'its proof is not a list of hex hashes');
      if (typeof ai.entry !== 'string') fail(CHECK.actors, aSeq, 'its entry is not text');
      if (aSeq >= N) fail(CHECK.actors, aSeq, 'the entry is not among the ' + N + ' entries the checkpoint covers');
      var ae = parseEntry(ai.entry);
      if (typeof ae === 'string') fail(CHECK.actors, aSeq, 'the entry is not a log entry: ' + ae);
      if (ae.seq !== aSeq) fail(CHECK.actors, aSeq, 'the entry says it is entry ' + ae.seq);
      if (ae.type !== 'actor.registered') fail(CHECK.actors, aSeq, 'the entry is not a registration of someone');
      if (ae.subject !== null && ae.subject !== subject) fail(CHECK.actors, aSeq, 'the entry registers another person who uses the service');
      if (!verifyInclusion(leafHash(bytesOf(ai.entry)), aSeq, N, aProof, root)) {
        fail(CHECK.actors, aSeq, 'its proof does not show it in the signed log: the entry or its proof was changed');
      }
      var registered = ae.data.id;
      if (typeof registered !== 'string') fail(CHECK.actors, aSeq, 'the registration names no id');
      if (actorIdsShown[registered] !== true) fail(CHECK.actors, aSeq, 'the registered ' + registered.slice(0, 64) + ' is not named in any entry about you');
      if (actorsSeen[registered] === true) fail(CHECK.actors, aSeq, registered.slice(0, 64) + ' is registered twice in the bundle');
      actorsSeen[registered] = true;
      addSegments(segmentsByCommit, ae);
    }

    // 7.7 The texts, each exactly as committed.
    for (var t = 0; t < b.content.length; t++) {
      var ci = b.content[t];
      var which = 'text ' + (t + 1);
      if (!isObject(ci)) fail(CHECK.content, null, which + ' is not an object');
      var cForm = exactKeys(ci, ['commit', 'salt', 'text']);
      if (cForm) fail(CHECK.content, null, which + ' is not of the expected form: ' + cForm);
      if (!isHex64(ci.commit) || !isHex64(ci.salt) || typeof ci.text !== 'string') {
        fail(CHECK.content, null, which + ' has a malformed commit, salt or text');
      }
      var segs = segmentsByCommit[ci.commit];
      if (!segs) fail(CHECK.content, null, which + ' belongs to no entry in the bundle');
      var computed = toHex(noble.blake3(bytesOf(ci.text), { key: fromHex(ci.salt) }));
      if (computed !== ci.commit) fail(CHECK.content, segs[0].seq, which + ' is not the text that was recorded: it was changed');
      var count = scalarCount(ci.text);
      for (var s = 0; s < segs.length; s++) {
        if (segs[s].chars !== count) {
          fail(CHECK.content, segs[s].seq, which + ' has ' + count + ' characters but the entry recorded ' + segs[s].chars);
        }
      }
    }

    // 7.8 The bundle hash, what sar.fulfilled records.
    var parts = ['withus-sar-v1\n' + subject + '\n' + N + '\n'];
    for (var h = 0; h < items.length; h++) parts.push(items[h].seq + ' ' + toHex(items[h].leaf) + '\n');
    var bundleHash = toHex(H(bytesOf(parts.join(''))));

    var withheldCount = items.length - shownEntries.length;
    return {
      ok: true,
      proved: {
        subject: subject,
        sarId: b.sar_id,
        origin: origin,
        treeSize: N,
        entries: items.length,
        shown: shownEntries.length,
        withheld: withheldCount,
        lastSeq: last ? last.seq : null,
        actors: b.actors.length,
        texts: b.content.length,
        bundleHash: bundleHash,
        fingerprint: keyFingerprint(key),
      },
    };
  }

  function addSegments(byCommit, entry) {
    var found = segmentsIn(entry.data, []);
    for (var k = 0; k < found.length; k++) {
      var list = byCommit[found[k].commit] || (byCommit[found[k].commit] = []);
      list.push({ seq: entry.seq, chars: found[k].chars });
    }
  }

  window.withusVerifyBundle = function (bundleJsonText, vkeyString) {
    try {
      return verify(bundleJsonText, vkeyString);
    } catch (err) {
      if (err instanceof Failure) {
        return { ok: false, check: err.check, seq: err.seq, message: err.message };
      }
      // A fault of this verifier, not a finding about the bundle: say so, never pass.
      return { ok: false, check: 'verifier', seq: null, message: 'the checker itself failed (' + String(err && err.message).slice(0, 200) + ')' };
    }
  };

  window.withusKeyFingerprint = function (vkeyString) {
    try {
      var key = parseVkey(vkeyString);
      return typeof key === 'string' ? null : keyFingerprint(key);
    } catch (err) {
      return null;
    }
  };
})();
