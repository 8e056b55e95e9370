package units

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// String prints the condition as written in a unit:
// "ConditionPathExists=|!/etc/x".
func (c Condition) String() string {
	p := "Condition"
	if c.Assert {
		p = "Assert"
	}
	v := c.Arg
	if c.Negate {
		v = "!" + v
	}
	if c.Trigger {
		v = "|" + v
	}
	return p + c.Kind + "=" + v
}

// ConditionResult is the outcome of a unit's Condition*= and Assert*= settings.
type ConditionResult struct {
	// ConditionsMet false: the unit is skipped, not failed ("condition
	// failed" in systemctl status).
	ConditionsMet bool
	// AssertsMet false: the start fails.
	AssertsMet bool
	// Failed lists what did not hold (triggering ones only when none held).
	Failed []Condition
}

// EvalConditions evaluates conditions as systemd does: every non-triggering
// condition must hold, and if there are triggering ("|") ones at least one
// of them must; asserts the same, separately.
func EvalConditions(cs []Condition, root string) (ConditionResult, error) {
	res := ConditionResult{ConditionsMet: true, AssertsMet: true}
	for _, assert := range []bool{false, true} {
		ok := true
		var trig []Condition
		anyTrig := false
		for _, c := range cs {
			if c.Assert != assert {
				continue
			}
			held, err := c.Check(root)
			if err != nil {
				return ConditionResult{}, err
			}
			if c.Trigger {
				anyTrig = anyTrig || held
				if !held {
					trig = append(trig, c)
				}
				continue
			}
			if !held {
				ok = false
				res.Failed = append(res.Failed, c)
			}
		}
		if len(trig) > 0 && !anyTrig {
			ok = false
			res.Failed = append(res.Failed, trig...)
		}
		if assert {
			res.AssertsMet = ok
		} else {
			res.ConditionsMet = ok
		}
	}
	return res, nil
}

// Check evaluates the condition (with its "!" negation; "|" is for
// EvalConditions) against the file system under root ("/" in a container).
func (c Condition) Check(root string) (bool, error) {
	v, err := c.check(rootFS{root: root})
	if err != nil {
		return false, fmt.Errorf("check %s: %w", c, err)
	}
	return v != c.Negate, nil
}

func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (c Condition) check(r rootFS) (bool, error) {
	a := c.Arg
	switch c.Kind {
	case "PathExists":
		_, err := r.stat(a)
		if notExist(err) {
			return false, nil
		}
		return err == nil, err
	case "PathExistsGlob":
		m, err := filepath.Glob(r.host(a))
		return len(m) > 0, err
	case "PathIsDirectory", "FileNotEmpty", "FileIsExecutable":
		fi, err := r.stat(a)
		if notExist(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch c.Kind {
		case "PathIsDirectory":
			return fi.IsDir(), nil
		case "FileNotEmpty":
			return fi.Mode().IsRegular() && fi.Size() > 0, nil
		}
		return fi.Mode().IsRegular() && fi.Mode()&0o111 != 0, nil
	case "PathIsSymbolicLink":
		fi, err := r.lstat(a)
		if notExist(err) {
			return false, nil
		}
		return err == nil && fi.Mode()&fs.ModeSymlink != 0, err
	case "DirectoryNotEmpty":
		fi, err := r.stat(a)
		if notExist(err) || err == nil && !fi.IsDir() {
			return false, nil
		}
		es, err := r.readDir(a)
		return len(es) > 0, err
	case "PathIsMountPoint":
		return r.isMountPoint(a)
	case "PathIsReadWrite":
		rp, err := r.resolve(a, true)
		if err != nil {
			return false, err
		}
		err = syscall.Access(r.host(rp), 2)
		if notExist(err) {
			return false, nil
		}
		return !errors.Is(err, syscall.EROFS), nil
	case "PathIsEncrypted", "NeedsUpdate", "Credential":
		return false, nil
	case "FirstBoot":
		want, err := parseBool(a)
		if err != nil {
			return false, err
		}
		return r.exists("/run/systemd/first-boot") == want, nil
	case "Virtualization":
		return r.virtualization(a), nil
	case "ACPower":
		want, err := parseBool(a)
		if err != nil {
			return false, err
		}
		return r.onACPower() == want, nil
	case "Capability":
		return r.hasCapability(a)
	case "Host":
		host := firstLineOf(r, "/proc/sys/kernel/hostname")
		if host == "" {
			host = firstLineOf(r, "/etc/hostname")
		}
		if ok, _ := path.Match(a, host); ok {
			return true, nil
		}
		return strings.EqualFold(a, firstLineOf(r, "/etc/machine-id")), nil
	case "KernelCommandLine":
		for _, w := range r.kernelCommandLine() {
			if w == a || !strings.Contains(a, "=") && strings.HasPrefix(w, a+"=") {
				return true, nil
			}
		}
		return false, nil
	case "KernelVersion":
		return compareAll(a, firstLineOf(r, "/proc/sys/kernel/osrelease"), true), nil
	case "Architecture":
		return a == "native" || a == archName(runtime.GOARCH), nil
	case "Firmware":
		switch a {
		case "uefi":
			return r.exists("/sys/firmware/efi"), nil
		case "device-tree":
			return r.exists("/sys/firmware/devicetree/base"), nil
		}
		return false, nil
	case "Environment":
		k, v, hasV := strings.Cut(a, "=")
		got, set := os.LookupEnv(k)
		return set && (!hasV || got == v), nil
	case "Security":
		switch a {
		case "apparmor":
			return strings.HasPrefix(firstLineOf(r, "/sys/module/apparmor/parameters/enabled"), "Y"), nil
		case "selinux":
			return r.exists("/sys/fs/selinux/enforce"), nil
		case "audit":
			return r.exists("/proc/self/loginuid"), nil
		}
		return false, nil
	case "User":
		return a == "root" || a == "0" || a == "@system", nil
	case "Group":
		return a == "root" || a == "0", nil
	case "ControlGroupController":
		return r.cgroupControllers(a), nil
	case "Memory":
		return compareAll(a, strconv.FormatUint(memTotal(r), 10), false), nil
	case "CPUs":
		return compareAll(a, strconv.Itoa(runtime.NumCPU()), false), nil
	case "CPUFeature":
		b, _ := r.readFile("/proc/cpuinfo")
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if k = strings.TrimSpace(k); k == "flags" || k == "Features" {
				for _, f := range strings.Fields(v) {
					if strings.EqualFold(f, a) {
						return true, nil
					}
				}
				return false, nil
			}
		}
		return false, nil
	case "OSRelease":
		return r.osRelease(a), nil
	case "MemoryPressure", "CPUPressure", "IOPressure":
		return true, nil
	}
	return false, fmt.Errorf("condition %q is not known", c.Kind)
}
