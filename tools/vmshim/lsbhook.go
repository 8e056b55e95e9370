package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// lsbHookPath is where vmshim init puts its init-functions hook.
const (
	lsbHookDir     = "/lib/lsb/init-functions.d"
	lsbHookPath    = lsbHookDir + "/40-vmshim"
	lsbSystemdHook = lsbHookDir + "/40-systemd"
	lsbHookScript  = `# /lib/lsb/init-functions.d/40-vmshim: written by vmshim init (fatbox) at each boot.
# Sends "/etc/init.d/NAME start|stop|restart|reload|force-reload|try-restart" to
# systemctl, as Debian's 40-systemd hook does (this image has no systemd package),
# so a script called directly runs as the unit vmshim tracks. run-unit sets
# _SYSTEMCTL_SKIP_REDIRECT when it runs the script itself.
if [ -z "${_SYSTEMCTL_SKIP_REDIRECT:-}" ] && [ -d /run/systemd/system ] && [ ! -e /lib/lsb/init-functions.d/40-systemd ]; then
    if [ -n "${__init_d_script_name:-}" ]; then
        _vmshim_exe="$__init_d_script_name"; _vmshim_arg="${1:-}"
    elif [ "${0##*/}" = "init-d-script" ] || [ "$0" = "/lib/init/init-d-script" ]; then
        _vmshim_exe="${1:-}"; _vmshim_arg="${2:-}"
    else
        _vmshim_exe="$0"; _vmshim_arg="${1:-}"
    fi
    _vmshim_name="${_vmshim_exe##*/}"
    case "$_vmshim_exe" in
        /etc/init.d/*|/etc/rc?.d/[SK][0-9][0-9]*)
            _vmshim_name="${_vmshim_name#[SK][0-9][0-9]}"
            case "$_vmshim_arg" in
                start|stop|restart|reload|force-reload|try-restart)
                    if [ "$(systemctl -p LoadState --value show "$_vmshim_name.service" 2>/dev/null)" = loaded ]; then
                        _SYSTEMCTL_SKIP_REDIRECT=true
                        export _SYSTEMCTL_SKIP_REDIRECT
                        [ "$_vmshim_arg" = force-reload ] && _vmshim_arg=reload-or-restart
                        systemctl "$_vmshim_arg" "$_vmshim_name.service"
                        exit $?
                    fi
                    ;;
            esac
            ;;
    esac
fi
`
)

// writeLSBHook installs the init-functions redirect when the image has
// Debian's LSB init-functions but not systemd's own hook.
func (s *shim) writeLSBHook() error {
	dir := s.path(lsbHookDir)
	if _, err := os.Stat(dir); err != nil {
		return nil // no LSB init-functions (not Debian-like): nothing to hook
	}
	if _, err := os.Stat(s.path(lsbSystemdHook)); err == nil {
		return nil // the systemd package's hook does the same, to our systemctl
	}
	p := s.path(lsbHookPath)
	if b, err := os.ReadFile(p); err == nil && string(b) == lsbHookScript {
		return nil
	}
	if err := writeFileAtomic(p, []byte(lsbHookScript), 0o644); err != nil {
		return fmt.Errorf("installing %s: %w", filepath.Base(p), err)
	}
	return nil
}
