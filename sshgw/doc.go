// Package sshgw is fatbox's SSH gateway: ops keep using ssh, scp, sftp,
// rsync, ssh -J and Ansible against containers by name or IP, through
// per-user access rules, with every session audited (sshgw/audit) and
// every interactive one recorded (sshgw/record).
//
// # API
//
//   - Server{Listen, AccessFile, HostKey, ClientKey, Fleet, Recorder, Audit,
//     IdleTimeout}.Serve(ctx): the gateway (github.com/gliderlabs/ssh). The
//     daemon builds it from its config's gateway: section
//     (engine/daemon/gateway.go); Status and Check answer `fatbox status` and
//     `fatbox gw check`.
//   - LoadAccess / ParseAccess: the access file (users and their keys,
//     groups, rules), validated with file:line errors; Access.Decide is the
//     pure rule evaluation (rules.go), first allowing rule wins, default deny.
//   - Ways in: USER (a menu), USER+CONTAINER and USER+LOGIN+CONTAINER as the
//     SSH user name; and direct-tcpip (ssh -J / -W), see jump.go.
//   - Fleet is what the gateway reads of the containers, through the
//     daemon's API: the records, exec with a pty, and each container's host
//     keys.
//
// # Decisions
//
//   - A direct-tcpip to a container's port 22 is never forwarded: the gateway
//     ends the inner SSH connection itself (serveInner), presenting the
//     container's own host keys (fatbox generated them, so known_hosts
//     entries made directly stay right), and runs its sessions as any other.
//     The inner connection authenticates again by public key, and the key
//     must be one of the same gateway user's: ssh -J offers the same keys to
//     both hops, and a second person's key on the inner hop is refused. The
//     inner SSH user name is the login.
//   - Rules only allow; what no rule allows is denied. Channels are shell,
//     exec, sftp (the sftp subsystem and scp in both protocols; rsync is an
//     exec) and forward (direct-tcpip to the listed ports of the container).
//   - Two paths per rule: sshd (the gateway's client key, which the engine
//     authorizes, against the container's sshd, whose host key must be one
//     fatbox generated: no trust on first use) and exec (the daemon's exec
//     API with a pty; the login's shell through setpriv, sftp-server for
//     sftp), which needs no sshd in the container.
//   - Passwords and keyboard-interactive are not offered. A connection that
//     never authenticates leaves one "refused" audit line with the last
//     reason.
//
// # Hazards
//
//   - The data path: the sshd path copies a raw session channel with 256 KiB
//     buffers straight between the two SSH connections; taps (sftp/scp
//     audit, recording) see the same buffers and never copy per byte. Do not
//     put a gossh.Session (it adds a goroutine and a copy per stream) or a
//     bufio layer in between.
//   - A session whose recording cannot go on (its cap, a full disk) is
//     ended, never left running unrecorded; one that cannot start recording
//     is refused.
//   - The access file is read again when its mtime or size changes (a 2 s
//     poll, and before each login). A file that does not load keeps the last
//     good rules and says so in the log and `fatbox status`; with no good
//     file yet, every login is refused.
//   - Signals pass on both paths (the exec API's signal frames); exit-signal
//     and agent forwarding on the sshd path only (the exec path reports a
//     signalled process's exit code as the daemon gives it).
//   - What a user types ahead of the shell at the menu's prompt is the menu's
//     (x/term reads it), as with any login prompt.
package sshgw
