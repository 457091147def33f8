// Package spawner starts, stops, inspects and lists the notebook containers of
// Labhub on a Docker engine.
//
// It knows nothing of LTI, users or the database: a caller describes one
// server with a [Spec] and gets back a [Server], the engine's view of the
// container. Every Docker object the package creates carries the label
// labhub.managed=true, so a hub that restarts can find what it started
// before, and every call to the engine has its own timeout, so a wedged
// engine cannot wedge the hub.
//
// # Names
//
// All Docker names are built by [ContainerName], [HomeVolumeName] and
// [SharedVolumeName] from [Escape], which follows DockerSpawner's escaping so
// the volumes of an existing DockerSpawner deployment can be adopted (see
// [LegacyHomeVolumeName]).
//
// # Isolation
//
// [Docker.EnsureNetwork] creates an internal bridge network (no route out of
// the host) with inter-container traffic disabled: a student's container
// reaches the hub and nothing else. Containers run with all capabilities
// dropped, no-new-privileges, and optional memory, CPU and process limits.
package spawner
