package appgen

import (
	_ "embed"
	"regexp"
	"strings"
)

//go:embed debian.tsv
var debianTSV string

// debianPackage is the Debian package for an app's dependency, "" if the
// table has none. Names compare case-insensitively, '_' and '.' as '-'
// (PEP 503) for Python.
func debianPackage(eco, name string) string {
	name = strings.ToLower(name)
	if eco == "python" {
		name = pep503.ReplaceAllString(name, "-")
	}
	for _, line := range strings.Split(debianTSV, "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 3 && f[0] == eco && f[1] == name {
			return f[2]
		}
	}
	return ""
}

var pep503 = regexp.MustCompile(`[-_.]+`)

// debianAlready lists what each base image has installed: asking for it
// again would only make the build fetch it.
func debianAlready(base, pkg string) bool {
	switch base {
	case BaseJava:
		return pkg == "openjdk-17-jre-headless" || pkg == "tomcat10"
	case BasePHP:
		return pkg == "nginx" || pkg == "php-fpm"
	}
	return false
}
