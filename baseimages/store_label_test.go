package baseimages

import (
	"strings"
	"testing"
)

func TestImageExporterPort(t *testing.T) {
	for _, c := range []struct {
		labels map[string]string
		want   int
		err    string
	}{
		{nil, 0, ""},
		{map[string]string{"io.fatbox.app": "orders"}, 0, ""},
		{map[string]string{LabelExporterPort: "9100"}, 9100, ""},
		{map[string]string{LabelExporterPort: " 9113 "}, 9113, ""},
		{map[string]string{LabelExporterPort: "0"}, 0, "is not a TCP port"},
		{map[string]string{LabelExporterPort: "http"}, 0, "give create --exporter-port"},
		{map[string]string{LabelExporterPort: "70000"}, 0, "1-65535"},
	} {
		got, err := Image{Name: "app:v1", Labels: c.labels}.ExporterPort()
		if got != c.want || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%v: %d, %v; want %d, %q", c.labels, got, err, c.want, c.err)
		}
	}
}
