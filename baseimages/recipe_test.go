package baseimages

import (
	"slices"
	"strings"
	"testing"
)

func TestRecipes(t *testing.T) {
	rs, err := BuiltinRecipes()
	if err != nil {
		t.Fatal(err)
	}
	fat, err := rs.Resolve("debian12-fat")
	if err != nil {
		t.Fatal(err)
	}
	java, err := rs.Resolve("debian12-java")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"openssh-server", "cron", "rsyslog", "python3", "sudo", "iputils-ping"} {
		if !slices.Contains(fat.Packages, p) || !slices.Contains(java.Packages, p) {
			t.Errorf("package %s missing from fat or java", p)
		}
	}
	if !slices.Contains(java.Packages, "tomcat10") || slices.Contains(fat.Packages, "tomcat10") {
		t.Error("tomcat10 belongs to java only")
	}
	if java.Parent != "debian12-fat" || fat.Key == java.Key || len(fat.Key) != 32 {
		t.Errorf("keys/parent: fat %q java %q parent %q", fat.Key, java.Key, java.Parent)
	}
	var tomcat *Program
	for i := range java.Programs {
		if java.Programs[i].Name == "tomcat" {
			tomcat = &java.Programs[i]
		}
	}
	if tomcat == nil || tomcat.Autostart {
		t.Fatalf("java must bring tomcat, off until an app is deployed: %+v", java.Programs)
	}
	if _, err := rs.Resolve("debian13"); err == nil || !strings.Contains(err.Error(), "known recipes are debian12-fat, debian12-java") {
		t.Fatalf("unknown recipe: %v", err)
	}
	if _, err := ParseRecipe([]byte("name: x\npackagez: [a]\n")); err == nil {
		t.Fatal("unknown recipe key accepted")
	}
}

func TestRenderSupervisord(t *testing.T) {
	rs, _ := BuiltinRecipes()
	java, _ := rs.Resolve("debian12-java")
	progs := MergePrograms(DefaultPrograms(), java.Programs)
	conf := RenderSupervisord(progs, "/var/log/supervisor")
	for _, want := range []string{"[program:sshd]\ncommand=/bin/sh -c 'mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e'\nautostart=true", "[program:tomcat]", "autostart=false", "user=tomcat",
		"stdout_logfile=/var/log/supervisor/cron.log", `CATALINA_HOME="/usr/share/tomcat10"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("supervisord.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Index(conf, "[program:rsyslog]") > strings.Index(conf, "[program:sshd]") {
		t.Error("programs not in priority order")
	}
}
