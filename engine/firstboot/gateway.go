package firstboot

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// GatewayKeysDir, inside the container, holds one file per login the SSH
// gateway may log in as (the file is named after the login and holds the
// gateway's key). Users' own authorized_keys files are never touched.
const GatewayKeysDir = "/etc/ssh/fatbox-gateway"

// GatewayDropIn makes sshd read GatewayKeysDir/<user> besides the users'
// own files. Debian's sshd_config includes sshd_config.d/*.conf first, and
// sshd keeps the first value it reads, so this one wins over a later
// AuthorizedKeysFile line in sshd_config.
const GatewayDropIn = "/etc/ssh/sshd_config.d/05-fatbox-gateway.conf"

// gatewayDropIn is its content.
const gatewayDropIn = `# Written by fatbox: the SSH gateway may log in as the users that have a
# file in ` + GatewayKeysDir + `/. Users' own keys still apply.
AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2 ` + GatewayKeysDir + `/%u
`

// loginRE is a POSIX-portable user name (useradd's default rule), which
// is also safe as a file name.
var loginRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// Gateway is what a container grants the SSH gateway: its public key,
// authorized for Logins. An empty Key or no Logins grants nothing.
type Gateway struct {
	Key    string
	Logins []string
}

// CheckLogin refuses a login name that is not a user name.
func CheckLogin(login string) error {
	if !loginRE.MatchString(login) {
		return fmt.Errorf("firstboot: invalid login %q: give a user name (lower-case letters, digits, '_' and '-', starting with a letter or '_', at most 32)", login)
	}
	return nil
}

// Check validates the key (one OpenSSH public key line) and the logins.
func (g Gateway) Check() error {
	if g.Key == "" {
		return nil
	}
	if strings.ContainsAny(g.Key, "\r\n") {
		return fmt.Errorf("firstboot: the gateway key must be one line")
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(g.Key)); err != nil {
		return fmt.Errorf("firstboot: the gateway key is not an OpenSSH public key line: %w", err)
	}
	for _, l := range g.Logins {
		if err := CheckLogin(l); err != nil {
			return err
		}
	}
	return nil
}

// WriteGateway writes the gateway's grant into rootfs as Write does at
// every boot (for a running container: sshd reads the key files at each
// login, and needs a SIGHUP only when the drop-in was new, which
// DropInChanged reports). Files of logins no longer granted are removed;
// with nothing granted the drop-in goes too.
func WriteGateway(rootfs string, g Gateway) (dropInChanged bool, err error) {
	if err := g.Check(); err != nil {
		return false, err
	}
	r, err := openRoot(rootfs)
	if err != nil {
		return false, err
	}
	defer r.Close()
	return r.writeGateway(g)
}

func (r *root) writeGateway(g Gateway) (bool, error) {
	want := map[string]bool{}
	if g.Key != "" {
		for _, l := range g.Logins {
			want[l] = true
		}
	}
	have, err := r.listDir(GatewayKeysDir)
	if err != nil {
		return false, err
	}
	var errs []error
	for _, n := range have {
		if !want[n] && !strings.HasPrefix(n, ".") {
			errs = append(errs, r.remove(GatewayKeysDir+"/"+n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	cur, err := r.readSmall(GatewayDropIn, 4096)
	if err != nil {
		return false, err
	}
	if len(want) == 0 {
		if cur == nil {
			return false, nil
		}
		return true, r.remove(GatewayDropIn)
	}
	if err := r.ensureDir(GatewayKeysDir, 0o755, true); err != nil {
		return false, err
	}
	line := []byte(strings.TrimSpace(g.Key) + "\n")
	for _, l := range slices.Sorted(maps.Keys(want)) {
		if b, err := r.readSmall(GatewayKeysDir+"/"+l, 16<<10); err == nil && bytes.Equal(b, line) {
			continue
		}
		if err := r.writeFile(GatewayKeysDir+"/"+l, line, 0o644); err != nil {
			return false, err
		}
	}
	if bytes.Equal(cur, []byte(gatewayDropIn)) {
		return false, nil
	}
	return true, r.writeFile(GatewayDropIn, []byte(gatewayDropIn), 0o644)
}

// listDir names the entries of directory p inside the root; a missing
// directory has none.
func (r *root) listDir(p string) ([]string, error) {
	fd, err := r.openDir(p, unix.O_RDONLY)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, r.errf(p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, r.errf(p, err)
	}
	return names, nil
}

// LoadHostKeys loads the host keys kept under stateDir/ssh/ without
// generating any: a container that has none yet (never booted) is an
// error naming the directory.
func LoadHostKeys(stateDir string) ([]ssh.Signer, error) {
	var out []ssh.Signer
	for _, kg := range keyGens {
		p := stateDir + "/ssh/" + HostKey{Type: kg.typ}.FileName()
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("firstboot: host key: %w (the container has not booted yet?)", err)
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("firstboot: host key %s: %w", p, err)
		}
		out = append(out, s)
	}
	return out, nil
}
