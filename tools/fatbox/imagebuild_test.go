package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
)

func TestBuildRequest(t *testing.T) {
	req, err := buildRequest(nil, imageBuildFlags{dockerfile: "app/Dockerfile", context: "app", name: "app:v1", network: true})
	abs, _ := filepath.Abs("app/Dockerfile")
	if err != nil || req.Dockerfile != abs || !filepath.IsAbs(req.Context) || req.Name != "app:v1" || !req.Network || req.Recipe != "" {
		t.Errorf("dockerfile request %+v %v", req, err)
	}
	if req, err := buildRequest([]string{"debian12-php"}, imageBuildFlags{}); err != nil || req.Recipe != "debian12-php" {
		t.Errorf("recipe request %+v %v", req, err)
	}
	for _, c := range []struct {
		args []string
		f    imageBuildFlags
		want string
	}{
		{nil, imageBuildFlags{}, "give a recipe name"},
		{nil, imageBuildFlags{dockerfile: "Dockerfile"}, "give the image a name with --name"},
		{[]string{"debian12-fat"}, imageBuildFlags{dockerfile: "Dockerfile", name: "a"}, "not both"},
		{[]string{"debian12-fat"}, imageBuildFlags{network: true}, "go with --dockerfile"},
	} {
		if _, err := buildRequest(c.args, c.f); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %+v: got %v, want %q", c.args, c.f, err, c.want)
		}
	}
}

// image ls shows each image's chain of parents.
func TestImageChain(t *testing.T) {
	imgs := []api.Image{
		{Name: "debian12-fat", ID: "f"},
		{Name: "debian12-php", ID: "p", Parent: "debian12-fat"},
		{Name: "app:v1", ID: "a", Parent: "debian12-php", ParentID: "p"},
		{Name: "old:v1", ID: "o", Parent: "debian12-php", ParentID: "gone"},
	}
	for i, want := range []string{"", "debian12-fat", "debian12-php <- debian12-fat", "debian12-php"} {
		if got := chain(imgs[i], imgs); got != want {
			t.Errorf("%s: %q, want %q", imgs[i].Name, got, want)
		}
	}
}
