// Package dockerbuild is fatbox's own Dockerfile builder: `fatbox image
// build --dockerfile`. It runs the instructions the generator (tools/appgen)
// writes — FROM a fatbox image, COPY, ADD, RUN, ENV, ARG, WORKDIR, EXPOSE,
// LABEL, USER — on the host without a Docker daemon, and refuses any other
// with the line, the instruction and what to write instead. Dockerfiles are
// parsed with buildkit's parser and words expanded with its shell lexer, so
// what parses here parses for docker and buildah.
//
// Layers: each step that changes files is an overlay upper dir
// (<store>/layers/<key>/diff) over the base image's rootfs and the layers
// before it; config steps (ENV, LABEL, ...) are layers without files. A
// layer's key is the parent's key, the instruction as written and as
// expanded, the environment, working directory and user in effect, and the
// content digest of what it reads (a COPY's sources: paths, modes, link
// targets, bytes; not times). A second build with nothing changed takes
// every step from the cache and finds the image up to date. The image is
// stored flattened, as every fatbox image is (the engine, commit and
// release take one lower dir): the base's files hard-linked (no bytes
// copied: about a second and a few MiB of inodes for debian12-fat), each
// layer applied on top (whiteouts delete, opaque dirs replace, files are
// hard links to the layer's). image.json records the parent (Parent,
// ParentID), labels, EXPOSEd ports, ENV, WORKDIR, USER and the last key.
//
// Hazards:
//   - Stored rootfs dirs and layer dirs share inodes: both are read-only by
//     convention. Writing into either in place changes the other.
//   - RUN runs as root in a runc container (engine.BuildRunner) on the
//     overlay, with Docker's default capabilities and fatbox's seccomp
//     filter, and a network namespace with only loopback unless the build
//     has --network (then the host's network and resolv.conf).
//   - apt without network: before a RUN whose shell line runs `apt-get
//     install PKG...`, the host's apt resolves the packages against the
//     image's dpkg status (a copy: the image is not written), downloads what
//     it lacks into AptCacheDir, and the step sees a flat repository of
//     exactly those .debs (apt-ftparchive, from apt-utils) as its only apt
//     source (the image's sources.list hidden under a bind mount, the .d dir
//     under a tmpfs). The host's package lists decide versions: run
//     `apt-get update` on the host to move them. A package the host's apt
//     cannot resolve fails the build naming it; other network fetches
//     (pip, npm, curl) fail inside the step: ship them in the context or
//     use --network.
//   - DEBIAN_FRONTEND=noninteractive is set for RUN steps only; it is not
//     recorded in the image.
//   - ADD extracts local tar archives (by name: .tar, .tar.gz, .tgz,
//     .tar.bz2, .tar.xz, .tar.zst) keeping their owners; URLs are refused.
//     The context's .dockerignore (docker's syntax, moby/patternmatcher)
//     leaves files out of what COPY and ADD read and of their keys.
//   - COPY follows symlinks in the image inside the rootfs only (resolveIn);
//     a context symlink that leads out of the context is refused.
//   - A build killed with its process leaves its temp layer (the intent,
//     made before the mount), the overlay and the step's container: the
//     daemon's start runs engine.BuildRunner.Sweep then Builder.Sweep.
//   - Two builds may share layers; a layer is written to a temp dir and
//     renamed into place whole. --no-cache layers are private to their
//     build and dropped at its end.
//   - supervisord programs: *.conf files in /etc/supervisor/conf.d of the
//     result become the image's Programs (firstboot renders them into
//     supervisord.conf, ENV merged into each program's environment); keys
//     fatbox renders itself are accepted only with its values.
package dockerbuild
