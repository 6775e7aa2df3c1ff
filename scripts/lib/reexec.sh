# shellcheck shell=bash
# Sourced by every script that must run in a private mount namespace (the
# e2e tests, the benchmark, the demo, bench/attach_time.sh): they mount
# their own bpffs and tmpfs there, which never reach the machine's mounts.

# sandbox_reexec MARKER SCRIPT [ARGS...]: re-execute `bash SCRIPT ARGS`
# under `unshare --mount --propagation private`, unless this process is
# already that copy. The environment variable named MARKER carries the
# mount namespace the first copy started in, so only a process in another
# one counts as sandboxed (a marker inherited from elsewhere does not).
# Returns 0 in the sandboxed copy, 1 if not root (the caller says why);
# otherwise does not return.
sandbox_reexec() {
	local marker=$1 mntns
	shift
	mntns=$(readlink /proc/self/ns/mnt)
	if [[ ${!marker:-} == from:* && ${!marker#from:} != "$mntns" ]]; then
		return 0
	fi
	[[ $EUID -eq 0 ]] || return 1
	export "$marker=from:$mntns"
	exec unshare --mount --propagation private -- bash "$@"
}
