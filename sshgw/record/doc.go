// Package record writes the gateway's session recordings: asciicast v2
// (https://docs.asciinema.org/manual/asciicast/v2/), gzip-compressed as
// written, one file per session (<Dir>/<session id>.cast.gz), bounded per
// session, in total and by age, so that no session can fill the disk.
//
// # API
//
//   - Recorder{Dir, Limits}.Start(id, width, height, meta) → *Session;
//     Session.Output(p) ("o" events), Input(p) ("i", a separate stream that
//     asciinema play skips), Resize(w, h) ("r", "COLSxROWS"), Close.
//     Once the session is no longer recorded, Done() is closed and Err()
//     says why (ErrCapped, or the write error); the gateway ends the
//     session then (Capped and Recording ask the same without a channel).
//   - Sweep(now) deletes recordings older than Limits.MaxAge (Start sweeps
//     too). Open, Decompress and Parse read a recording back (`fatbox audit
//     play` decompresses to a file asciinema plays).
//
// # Hazards
//
//   - The cap is on the compressed bytes in the file. Before each event the
//     session counts what the compressor holds as if it did not compress
//     at all (deflate adds at most a few bytes per block), flushing to learn
//     the real size when that bound does not fit; so the file never passes
//     SessionBytes, whatever the output. Past the cap a marker line (an "o"
//     event, so it shows when played) is written and nothing more.
//   - The total cap counts every finished recording's size plus a full
//     SessionBytes for every active one: an active file is never deleted
//     (a deleted file still open keeps taking disk until it is closed), so
//     when the active sessions' caps alone reach TotalBytes, Start fails
//     with ErrFull and the gateway must refuse the session rather than run it
//     unrecorded. TotalBytes / SessionBytes is how many sessions can be
//     recorded at once.
//   - The directory is read once (the first Start or Sweep) and then kept in
//     memory: one process owns Dir. Files removed by hand are fine (a
//     removal of a missing file is not an error); files added by hand are
//     not counted until the next process.
//   - Crash safety: the compressor is flushed at most a second after an
//     event, so a killed process leaves a gzip stream without its trailer
//     whose whole lines up to the last flush are readable (Decompress
//     reports it truncated). Nothing is fsynced: a host crash can lose more.
//   - Events are JSON strings, so output is cut on UTF-8 character
//     boundaries: a character split across two writes is held back and
//     written with the next one. Invalid UTF-8 becomes U+FFFD (as asciinema
//     itself records it).
//   - Recordings hold what users typed, passwords at prompts included:
//     files are 0600 in a 0700 directory, and nothing is logged.
package record
