// Package firstboot writes the files that give a fat container its identity
// on first boot: /etc/hostname, /etc/hosts, /etc/resolv.conf, the SSH host
// keys, /root/.ssh/authorized_keys and /etc/supervisor/supervisord.conf.
//
// They are written into the container's rootfs (an overlay mount directory)
// from state kept in the container's state directory, so a container that is
// destroyed and re-created from the same state keeps its SSH host identity.
//
// # API
//
//   - HostKeys(stateDir) generates the ed25519, ECDSA P-256 and RSA 3072 host
//     keys once, under stateDir/ssh/, and loads them unchanged afterwards.
//   - HostKeysFrom(stateDir, pool) takes a missing RSA key from a KeyPool of
//     keys generated ahead of time (RSA 3072 takes 0.1–0.7 s; the others are
//     instant). A pooled key is claimed by rename, so it is handed out once.
//   - Write(rootfs, stateDir, cfg) validates cfg, then writes everything.
//
// # Hazards
//
//   - The rootfs is untrusted: an image may ship any path as a symlink (for
//     example /root/.ssh -> /tmp/outside-dir or -> ../../../../etc). Every
//     path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT |
//     RESOLVE_NO_MAGICLINKS), so a symlink is followed as if the rootfs were
//     "/" and can never leave it; a symlink whose target does not exist inside
//     the rootfs makes Write fail rather than create anything elsewhere. Files
//     are created O_EXCL|O_NOFOLLOW under a temp name and renamed into place,
//     so a symlink (or hard link) at the final name is replaced, never written
//     through. Never "simplify" this to os.WriteFile(filepath.Join(rootfs, p)).
//   - openat2 needs Linux >= 5.6. On older kernels Write fails with ENOSYS;
//     there is deliberately no unsafe fallback.
//   - Mounts inside the rootfs are crossed (no RESOLVE_NO_XDEV): Write is meant
//     to run before anything is mounted inside the container.
//   - Ownership: files are chowned to 0:0 only when the caller is root. With a
//     user-namespace-remapped container "root" is a different host uid and
//     these files would need that uid instead; this package does not do that.
//   - Directories that already exist keep their mode, except /root/.ssh, which
//     is forced to 0700 (and root-owned) because sshd's StrictModes refuses
//     keys in a group- or world-writable directory.
//   - /root/.ssh/authorized_keys is always rewritten from Config.AuthorizedKeys:
//     keys that the image shipped there are dropped, and an empty list writes
//     an empty file.
//   - Config.DNS == nil copies the host's non-loopback nameservers. On a host
//     running systemd-resolved /etc/resolv.conf lists only 127.0.0.53, so the
//     container gets no nameserver at all; pass DNS explicitly there.
//   - The host key private files are secrets. They live in stateDir/ssh (0700
//     directory, 0600 files) and are copied into every rootfs; a leaked state
//     dir or rootfs leaks the container's SSH identity.
//   - A corrupt private key file in the state dir is an error, not a reason to
//     generate a new key: silently changing a host key would train users to
//     accept MITM warnings. Delete the file by hand to rotate.
//   - RSA 3072 generation costs ~0.1-1 s of CPU (it is random); the three keys
//     are generated concurrently and only on the very first boot.
//   - HostKeys takes an flock on stateDir/ssh/.lock so two concurrent first
//     boots of the same container cannot each return a different key.
package firstboot
