import { describe, expect, it } from "vitest";
import { ParseError } from "../../agent/src/core/errors.js";
import {
  exact,
  LossyNumber,
  parseJson,
  parseJsonLossless,
  parseJsonQuoted,
} from "../../agent/src/core/json.js";
import { parseZfsGet, withEncryptionRoots } from "../../agent/src/core/zfs.js";
import { fixture } from "../helpers/fixtures.js";

describe("lossless JSON at JSON.parse speed", () => {
  it("real --json-int capture: the 64-bit pool guid keeps every digit, safe numbers stay numbers", () => {
    const text = fixture("single", "zpool-list-j-int");
    const doc = parseJsonLossless(text, "zpool list -j --json-int") as {
      pools: { nvmepool: { pool_guid: unknown; txg: unknown } };
    };
    expect(doc.pools.nvmepool.pool_guid).toBe("6816711904690617069");
    expect(doc.pools.nvmepool.txg).toBe(25);
    // JSON.parse alone would have rounded it.
    expect(String((JSON.parse(text) as typeof doc).pools.nvmepool.pool_guid)).not.toBe("6816711904690617069");
  });

  it("documents without unsafe integers come back exactly as JSON.parse gives them (one parse)", () => {
    const text = fixture("single", "zpool-status-j");
    expect(parseJsonLossless(text, "t")).toEqual(JSON.parse(text));
  });

  it("quoting steps over strings whole: digits, quotes and escapes inside them are left alone", () => {
    const text =
      '{"a":17857142475122594770,"s":"17857142475122594770","e":"x\\"18446744073709551615\\"","k":{"12345678901234567890":-98765432109876543210},"f":1.5e300,"n":[1,2.5,-3]}';
    expect(parseJsonQuoted(text, "t")).toEqual({
      a: "17857142475122594770",
      s: "17857142475122594770",
      e: 'x"18446744073709551615"',
      k: { "12345678901234567890": "-98765432109876543210" },
      f: 1.5e300,
      n: [1, 2.5, -3],
    });
  });

  it("exact(): digits of a safe number, LossyNumber (a ParseError) for one JSON.parse may have rounded", () => {
    expect(exact("x")).toBe("x");
    expect(exact(2670592)).toBe("2670592");
    expect(exact(null)).toBeUndefined();
    expect(() => exact(2 ** 64)).toThrow(LossyNumber);
    expect(() => exact(Number.POSITIVE_INFINITY)).toThrow(ParseError);
    expect(() => parseJson("{not json", "t")).toThrow(ParseError);
  });
});

describe("zfs get -j, read by name", () => {
  it("real capture: every dataset's properties, and the encryption roots detection fills in", () => {
    const props = parseZfsGet(fixture("encrypted", "zfs-get-j-crypto"));
    expect(props.get("nvmepool/home")).toMatchObject({ encryptionroot: "nvmepool", keylocation: "none" });
    expect([...props.keys()]).toEqual([
      "nvmepool",
      "nvmepool/home",
      "nvmepool/nix",
      "nvmepool/root",
      "nvmepool/var",
    ]);
    expect(props.size).toBe(5);
    const datasets = withEncryptionRoots(
      [
        {
          name: "nvmepool/root",
          pool: "nvmepool",
          mountpoint: "legacy",
          canmount: "on",
          encryption: "aes-256-gcm",
          keystatus: "unavailable",
          used: "0",
          encryptionRoot: null,
        },
      ],
      props,
    );
    expect(datasets[0]?.encryptionRoot).toBe("nvmepool");
  });

  it("--json-int values (real capture) become their digits; a 64-bit one (constructed) keeps every digit", () => {
    const text = fixture("single", "zfs-list-j-int");
    expect(parseZfsGet(text).get("nvmepool")?.used).toBe("2670592");
    const big = text.replace('"used":{"value":2670592', '"used":{"value":18446744073709551615');
    expect(big).not.toBe(text);
    expect(parseZfsGet(big).value("nvmepool", "used")).toBe("18446744073709551615");
    const props = parseZfsGet(big);
    expect(props.get("nvmepool")?.used).toBe("18446744073709551615");
    expect(props.value("nvmepool", "nope")).toBeUndefined();
    expect(props.value("toString", "used")).toBeUndefined();
    // The re-read happened once; the other datasets read the same as before.
    expect(props.get("nvmepool/home")?.mountpoint).toBe("legacy");
  });

  it("names are looked up as data: no prototype members, a malformed entry reads as absent", () => {
    // Raw text: in an object literal "__proto__" would set the prototype instead of a key.
    const text =
      '{"datasets":{"__proto__":{"properties":{"encryptionroot":{"value":"p"}}},' +
      '"good":{"properties":{"__proto__":{"value":"x"},"encryptionroot":{"value":"good"}}},' +
      '"broken":{"properties":"no"},"alsoBroken":null}}';
    const props = parseZfsGet(text);
    expect(props.get("toString")).toBeUndefined();
    expect(props.get("constructor")).toBeUndefined();
    expect(props.get("__proto__")?.encryptionroot).toBe("p");
    expect(props.get("good")?.encryptionroot).toBe("good");
    expect(Object.keys(props.get("good") ?? {})).toEqual(["__proto__", "encryptionroot"]);
    expect(props.get("broken")).toBeUndefined();
    expect(props.get("alsoBroken")).toBeUndefined();
    expect([...props.keys()].sort()).toEqual(["__proto__", "good"]);
  });

  it("a top level of the wrong shape is a ParseError", () => {
    expect(() => parseZfsGet("[]")).toThrow(ParseError);
    expect(() => parseZfsGet('{"datasets":[]}')).toThrow(ParseError);
    expect(parseZfsGet('{"output_version":{}}').size).toBe(0);
  });
});
