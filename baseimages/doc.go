// Package baseimages builds, imports and stores the images fat containers run.
//
// Recipes are data (recipes/*.yaml, embedded): packages, a parent, hooks run
// on the finished rootfs, and the supervisord programs the image brings. A
// child recipe is built flattened: its parent's packages, hooks and programs
// come first (the image records its parent). The build cache key is a hash of
// every recipe file in the chain.
//
// Hazards:
//   - Builds and imports run as root: extraction keeps owners, modes, device
//     nodes and xattrs (GNU tar does it, and refuses names that climb out with "..").
//   - A stored rootfs is read-only by convention: the engine mounts it as an
//     overlay lower dir, and writing to it would change every container on it.
//   - Content IDs: a build or rootfs tarball is named by the sha256 of its tar
//     stream; an OCI or docker image by its manifest digest; a commit or a
//     Dockerfile build by its tree (TreeID) and, when it has one, its own
//     configuration (labels, ports, env, workdir, user, programs, build key:
//     configID), so two images of the same files that run differently never
//     share one image.json. Importing the same content under two names stores it once.
//   - supervisord v0.7.3 starts programs concurrently; priority orders the
//     attempts, not readiness.
package baseimages
