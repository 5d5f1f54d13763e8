/**
 * What the operator accepts before a rebuild or a profile switch runs (issue 10): the installed
 * system is untrusted data, and these run ITS OWN code. Shown by the web page before it asks, by
 * the client, and returned with the job by the API.
 */
export const RUNS_INSTALLED_CODE =
  "This runs the installed system's own code as root: nixos-enter activates that system and its " +
  "nixos-rebuild / nix-env / switch-to-configuration run inside it with full privileges over the " +
  "mounted disks. Do it only if you trust what is on them (a compromised server's tools can act on " +
  "its disks, and on this rescue system too). A snapshot (or, without ZFS, a backup) is taken first.";
