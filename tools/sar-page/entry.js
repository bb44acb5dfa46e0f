// The entry esbuild bundles into src/sar/page/noble.js (see build.sh): the three primitives the
// subject access page's verifier (src/sar/page/verify.js) needs, and nothing else.
//   blake3(bytes) / blake3(bytes, { key }) — leaf and node hashes, content commitments
//   sha256(bytes)                          — the C2SP key id and the key fingerprint
//   ed25519.verify(sig, msg, publicKey, { zip215: false }) — checkpoint and head signatures
import { blake3 } from '@noble/hashes/blake3.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';

window.withusNoble = Object.freeze({
  blake3,
  sha256,
  ed25519: Object.freeze({ verify: ed25519.verify }),
});
