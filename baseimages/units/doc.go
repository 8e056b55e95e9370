// Package units reads systemd unit files, SysV init scripts and pam_limits
// configuration for vmshim, the systemctl stand-in inside fat containers.
package units
