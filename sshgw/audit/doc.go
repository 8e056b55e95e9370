// Package audit is the gateway's audit log and the taps that derive file
// transfers from sftp and scp byte streams.
//
// # API
//
//   - Log{Dir, Retain}.Write(Entry): one JSON line per entry in
//     <Dir>/audit-YYYY-MM-DD.jsonl (UTC day of writing); List(Filter) reads
//     them back by user, container, session, kind and time; Prune removes
//     day files past Retain. NewSessionID makes the ids that tie a
//     connection's entries to its recording.
//   - NewSFTP(emit) taps an sftp session: write the client→server bytes to
//     ClientToServer() and the server→client bytes to ServerToClient()
//     (io.Writers that never fail); each file opened and closed becomes a
//     Transfer (path, upload/download, bytes, start, end), and so do
//     removes and renames. NewSCP(command, emit) does the same for the
//     legacy scp protocol (`scp -t` / `scp -f` as the exec command); the
//     default scp of OpenSSH 9 speaks sftp and goes through NewSFTP.
//
// # Hazards
//
//   - One process writes a Dir (the daemon's gateway): lines are single
//     O_APPEND writes, safe between goroutines; two processes would still
//     not tear lines on a local file system, but rotation and pruning
//     assume one owner. Lines are not fsynced.
//   - A session line is written when the session ends, with Time its start:
//     a session that spans midnight is in the file of the day it ended.
//     List reads the files from Since's day on and matches an entry that
//     started or ended at or after Since.
//   - The taps parse headers only: a packet's payload (WRITE and DATA
//     bodies, scp file contents) is counted and skipped, never copied, so
//     the cost is per packet, not per byte. They must see each direction's
//     bytes in order and before the other side acts on them (tap the
//     client's bytes before forwarding them to the server), and bytes that
//     do not parse stop the tap (Err says why) without failing the
//     session: the audit then lacks the later transfers, which Err lets the
//     gateway record.
//   - sftp paths are as the client sent them (relative to the login's home
//     when relative); the tap cannot resolve links or the home directory.
//     scp -t paths are the target the client named, joined with the file's
//     name when the target is a directory (-d, -r, or a trailing '/').
package audit
