import qrcode from "qrcode-generator";

/** The QR code's modules: true = dark. Error correction L keeps a URL with a token small. */
export function qrMatrix(text: string, ecc: "L" | "M" = "L"): boolean[][] {
  const qr = qrcode(0, ecc);
  qr.addData(text, "Byte");
  qr.make();
  const n = qr.getModuleCount();
  return Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => qr.isDark(r, c)));
}

/**
 * Two module rows per text line with half blocks, for a light-on-dark console: the light modules
 * (and a 2-module quiet zone) are drawn, the dark ones are the screen's background. Phones read
 * it as the usual dark-on-light code.
 */
export function qrHalfBlocks(matrix: boolean[][], margin = 2): string[] {
  const n = matrix.length + 2 * margin;
  const light = (r: number, c: number) => {
    const rr = r - margin;
    const cc = c - margin;
    if (rr < 0 || cc < 0 || rr >= matrix.length || cc >= matrix.length) return true;
    return !matrix[rr]?.[cc];
  };
  const lines: string[] = [];
  for (let r = 0; r < n; r += 2) {
    let line = "";
    for (let c = 0; c < n; c++) {
      const top = light(r, c);
      const bottom = r + 1 < n ? light(r + 1, c) : false;
      line += top && bottom ? "█" : top ? "▀" : bottom ? "▄" : " ";
    }
    lines.push(line);
  }
  return lines;
}
