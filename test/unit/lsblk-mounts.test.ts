import { describe, expect, it } from "vitest";
import { type BlockDevice, flattenDevices, moveMountpoints, parseLsblk } from "../../agent/src/core/lsblk.js";
import type { MountEntry } from "../../agent/src/core/mounts.js";
import { fixture } from "../helpers/fixtures.js";

const m = (source: string, target: string, fstype = "vfat"): MountEntry => ({
  source,
  target,
  fstype,
  options: ["ro"],
});
const at = (tree: readonly BlockDevice[], path: string) =>
  flattenDevices(tree).find((d) => d.path === path)?.mountpoints;

describe("lsblk's mount points carried over to a new mount table (no second lsblk)", () => {
  // the seed's disk as lsblk listed it in the lab: the ESP and the pool's member, nothing mounted
  const tree = parseLsblk(fixture("single", "lsblk-json-cols"));
  const esp = flattenDevices(tree).find((d) => d.fstype === "vfat")?.path as string;
  const base = [m("proc", "/proc", "proc"), m("/dev/root", "/", "ext4")];

  it("a new mount of a device's path: its target on that device, and on no other", () => {
    const after = [...base, m("nvmepool/root", "/mnt", "zfs"), m(esp, "/mnt/boot")];
    const moved = moveMountpoints(tree, base, after);
    expect(moved && at(moved, esp)).toEqual(["/mnt/boot"]);
    const others = flattenDevices(moved ?? []).filter((d) => d.path !== esp);
    expect(others.map((d) => d.mountpoints)).toEqual(
      flattenDevices(tree)
        .filter((d) => d.path !== esp)
        .map((d) => d.mountpoints),
    );
  });

  it("a mount gone: its target taken off; what lsblk gave that the table never had ([SWAP]) stays", () => {
    const swapped = tree.map((d) => ({
      ...d,
      children: d.children.map((c) => (c.path === esp ? { ...c, mountpoints: ["/mnt/boot", "[SWAP]"] } : c)),
    }));
    const before = [...base, m(esp, "/mnt/boot")];
    const moved = moveMountpoints(swapped, before, base);
    expect(moved && at(moved, esp)).toEqual(["[SWAP]"]);
  });

  it("datasets, tmpfs and the rescue system's own mounts of sources lsblk does not list: not lsblk's, nothing to do", () => {
    const after = [...base, m("nvmepool/nix", "/mnt/nix", "zfs"), m("tmpfs", "/mnt/tmp", "tmpfs")];
    expect(moveMountpoints(tree, base, after)).toEqual(tree);
  });

  it("a new or gone mount of a /dev source that is no device's path (a link, an alias): null, lsblk must look", () => {
    expect(moveMountpoints(tree, base, [...base, m("/dev/disk/by-uuid/3302-674B", "/mnt/boot")])).toBeNull();
    expect(moveMountpoints(tree, [...base, m("/dev/sdz1", "/srv")], base)).toBeNull();
  });

  it("the tree is not changed in place", () => {
    const copy = JSON.parse(JSON.stringify(tree));
    moveMountpoints(tree, base, [...base, m(esp, "/mnt/boot")]);
    expect(tree).toEqual(copy);
  });
});
