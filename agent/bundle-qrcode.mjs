// qrcode-generator (dist/qrcode.mjs) without its image outputs, for dist/lifeboat.mjs
// (agent/build.mjs). The agent draws the code itself in the console (agent/src/console/qr.ts: only
// qrcode(), addData(…, "Byte"), make(), getModuleCount(), isDark()); the library's HTML table, SVG,
// GIF data-URL, <img>, ASCII and canvas outputs and the GIF/base64 encoders under them are never
// called. Cut here, by their text, from the package's own file:
//   - the qrcode object's create*/render* methods (from `_this.createTableTag` to the end of the
//     qrcode function, whose `return _this;` stays), with the helpers only they use;
//   - the Numeric, Alphanumeric and Kanji modes (qr.ts adds its text as "Byte") and
//     qrcode.createStringToBytes (the SJIS/UTF-8 variants' mapping; "Byte" mode uses the default
//     stringToBytes): each becomes a function that throws;
//   - the module's "GIF Support etc." section (byteArrayOutputStream, the base64 streams, gifImage,
//     createDataURL); base64DecodeInputStream, which qrcode.createStringToBytes (the SJIS/UTF-8
//     variants' mapping, not used by "Byte" mode with the default stringToBytes) calls, becomes a
//     function that throws.
// A cut that no longer finds its marks fails the build (the package changed); test/bundle/qrcode.test.ts
// compares the trimmed library's matrices with the real one's.

import { readFile } from "node:fs/promises";

const FILE = /[\\/]node_modules[\\/]qrcode-generator[\\/]dist[\\/]qrcode\.mjs$/;

/** The package's text with the unused outputs cut (throws when a mark is missing). */
export function trimQrcode(text) {
  const cut = (s, from, to, put = "") => {
    const a = s.indexOf(from);
    const b = a < 0 ? -1 : s.indexOf(to, a);
    if (a < 0 || b < 0) throw new Error(`qrcode-generator changed: "${from}" … "${to}" not found`);
    return s.slice(0, a) + put + s.slice(b);
  };
  let out = cut(text, "  _this.createTableTag = function", "\n  return _this;\n};\n\n//----");
  const none = (name) =>
    `const ${name} = () => {\n  throw new Error("lifeboat: qrcode-generator's ${name} is not bundled");\n};\n\n`;
  // createStringToBytes: the SJIS/UTF-8 variants' mapping (the default stringToBytes stays)
  out = cut(
    out,
    "qrcode.createStringToBytes = function",
    "//---------------------------------------------------------------------\n// QRMode",
    'qrcode.createStringToBytes = () => {\n  throw new Error("lifeboat: qrcode-generator\'s createStringToBytes is not bundled");\n};\n\n',
  );
  // the Numeric, Alphanumeric and Kanji modes (addData is called with "Byte" only)
  out = cut(
    out,
    "const qrNumber = function",
    "//---------------------------------------------------------------------\n// qrAlphaNum",
    none("qrNumber"),
  );
  out = cut(
    out,
    "const qrAlphaNum = function",
    "//---------------------------------------------------------------------\n// qr8BitByte",
    none("qrAlphaNum"),
  );
  out = cut(
    out,
    "const qrKanji = function",
    "//=====================================================================\n// GIF Support etc.",
    none("qrKanji"),
  );
  out = cut(
    out,
    "//=====================================================================\n// GIF Support etc.",
    "export default qrcode;",
    'const base64DecodeInputStream = () => {\n  throw new Error("lifeboat: qrcode-generator\'s base64 decoder is not bundled");\n};\n\n',
  );
  return out;
}

export const qrcodeTrim = {
  name: "lifeboat-qrcode-trim",
  setup(b) {
    b.onLoad({ filter: FILE }, async (args) => ({
      loader: "js",
      contents: trimQrcode(await readFile(args.path, "utf8")),
    }));
  },
};
